// The blobstore's typed client, two implementations of one interface (STYLE §6): `localBlobs`
// over an open store in this process, and `connectBlobs` over HTTP with the token. Both name a
// blob by its bare URL (`blobUrl`, what releases store: it reads nothing without a token) and
// give the agents' credential for the blob origin (`agentFetchAuth`); `signedUrl` is for short
// hand-outs to something that can send no header.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../../layer0/common/errors.ts';
import { agentReadToken, signBlobUrl } from './signing.ts';
import type { BlobStore, PutOptions } from './store.ts';
import { checkBlobId, type BlobServerTarget, type PutResult } from './types.ts';

export interface BlobClient {
  put(input: Readable | AsyncIterable<Uint8Array>, opts?: { sha256?: string }): Promise<PutResult>;
  /** The blob's bytes; `not_found` when missing. */
  get(id: string): Promise<Readable>;
  has(id: string): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** `<server>/blobs/<id>`: reads the blob only with a token (the agents': `agentFetchAuth`); needs a server URL. */
  blobUrl(id: string): string;
  /** What agents send with blob fetches: the server's origin and the read-only token. */
  agentFetchAuth(): { origin: string; bearer: string };
  /** A URL that reads this one blob without a token until `ttlSec` (default 10 min) from now; needs a server URL. */
  signedUrl(id: string, ttlSec?: number): string;
}

function bareUrl(base: string, id: string): string {
  return `${base.replace(/\/+$/, '')}/blobs/${checkBlobId(id)}`;
}

function fetchAuthOf(target: BlobServerTarget): { origin: string; bearer: string } {
  return { origin: new URL(target.url).origin, bearer: agentReadToken(target.token) };
}

/** In-process: the builder and the blob server share one store. `url` is the server's base URL (for signed URLs). */
export function localBlobs(store: BlobStore, server?: BlobServerTarget): BlobClient {
  return {
    put: (input, o: PutOptions = {}) => store.put(input, o),
    get: (id) => store.get(id),
    has: (id) => store.has(id),
    delete: (id) => store.delete(id),
    blobUrl(id) {
      if (!server) throw new SlipwayError('unavailable', 'no blob server to name URLs of');
      return bareUrl(server.url, id);
    },
    agentFetchAuth() {
      if (!server) throw new SlipwayError('unavailable', 'no blob server for agents to fetch from');
      return fetchAuthOf(server);
    },
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
    blobUrl: (id) => bareUrl(base, id),
    agentFetchAuth: () => fetchAuthOf(target),
    signedUrl: (id, ttlSec) => signBlobUrl(base, target.token, id, ttlSec),
  };
}
