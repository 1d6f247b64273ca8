// The blobstore's typed client, two implementations of one interface (STYLE §6): `localBlobs`
// over an open store in this process, and `connectBlobs` over HTTP with the token. Both sign
// URLs for agents (`signedUrl`), which fetch slugs with no header.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../../layer0/common/errors.ts';
import { signBlobUrl } from './signing.ts';
import type { BlobStore, PutOptions } from './store.ts';
import { checkBlobId, type BlobServerTarget, type PutResult } from './types.ts';

export interface BlobClient {
  put(input: Readable | AsyncIterable<Uint8Array>, opts?: { sha256?: string }): Promise<PutResult>;
  /** The blob's bytes; `not_found` when missing. */
  get(id: string): Promise<Readable>;
  has(id: string): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** A URL that reads this one blob without a token until `ttlSec` from now; needs a server URL. */
  signedUrl(id: string, ttlSec: number): string;
}

/** In-process: the builder and the blob server share one store. `url` is the server's base URL (for signed URLs). */
export function localBlobs(store: BlobStore, server?: BlobServerTarget): BlobClient {
  return {
    put: (input, o: PutOptions = {}) => store.put(input, o),
    get: (id) => store.get(id),
    has: (id) => store.has(id),
    delete: (id) => store.delete(id),
    signedUrl(id, ttlSec) {
      if (!server) throw new SlipwayError('unavailable', 'no blob server to sign URLs for');
      return signBlobUrl(server.url, server.token, id, ttlSec);
    },
  };
}

async function errorOf(res: IncomingMessage, what: string): Promise<SlipwayError> {
  let text = '';
  for await (const c of res) if (text.length < 4096) text += String(c);
  let message = text;
  try {
    message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
  } catch {
    /* not JSON */
  }
  const code = res.statusCode === 404 ? 'not_found' : res.statusCode === 401 ? 'unauthorized' : res.statusCode === 403 ? 'forbidden' : (res.statusCode ?? 500) < 500 ? 'invalid_params' : 'unavailable';
  return new SlipwayError(code, `${what}: HTTP ${res.statusCode}: ${message}`);
}

/** Over HTTP to a blob server (another host's, or this one's). */
export function connectBlobs(target: BlobServerTarget): BlobClient {
  const base = target.url.replace(/\/+$/, '');
  const call = (method: string, path: string, body?: Readable | AsyncIterable<Uint8Array>): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(`${base}${path}`, { method, headers: { Authorization: `Bearer ${target.token}` } }, resolve);
      req.on('error', (err) => reject(new SlipwayError('unavailable', `blob server ${base}: ${err.message}`, { cause: err })));
      if (body) pipeline(body, req).catch((err: Error) => req.destroy(err));
      else req.end();
    });
  return {
    async put(input, o = {}) {
      const res = await call('PUT', `/blobs${o.sha256 ? `?sha256=${checkBlobId(o.sha256)}` : ''}`, input);
      if (res.statusCode !== 200 && res.statusCode !== 201) throw await errorOf(res, 'put blob');
      let text = '';
      for await (const c of res) text += String(c);
      return JSON.parse(text) as PutResult;
    },
    async get(id) {
      const res = await call('GET', `/blobs/${checkBlobId(id)}`);
      if (res.statusCode !== 200) throw await errorOf(res, `get blob ${id}`);
      return res;
    },
    async has(id) {
      const res = await call('HEAD', `/blobs/${checkBlobId(id)}`);
      res.resume();
      if (res.statusCode === 404) return false;
      if (res.statusCode !== 200) throw new SlipwayError('unavailable', `head blob ${id}: HTTP ${res.statusCode}`);
      return true;
    },
    async delete(id) {
      const res = await call('DELETE', `/blobs/${checkBlobId(id)}`);
      if (res.statusCode === 404 || res.statusCode === 204) {
        res.resume();
        return res.statusCode === 204;
      }
      throw await errorOf(res, `delete blob ${id}`);
    },
    signedUrl: (id, ttlSec) => signBlobUrl(base, target.token, id, ttlSec),
  };
}
