// The blob server (`SLIPWAY_BLOB_PORT`, 7001): PUT /blobs (streamed in, id returned), GET|HEAD
// /blobs/:id (streamed out, Content-Length, ETag, one Range), DELETE /blobs/:id, GET /blobs (list
// and usage), GET /healthz. Bearer token (or `?token=`); for GET/HEAD of one blob also the agents'
// read token (signing.ts agentReadToken) or a signed URL.
// Nothing is buffered: bodies are piped between the socket and the file. Started by `slipway up`.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { SlipwayError, toSlipwayError } from '../../layer0/common/errors.ts';
import { silentLogger, type Logger } from '../../layer0/common/logger.ts';
import { agentReadToken, checkSignature, safeEqual } from './signing.ts';
import { BlobStore } from './store.ts';
import { BLOB_ID_RE } from './types.ts';

export interface BlobServerOptions {
  /** The store's directory (`$SLIPWAY_HOME/blobs`), or an open store. */
  dir?: string;
  store?: BlobStore;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  token: string;
  log?: Logger;
  /** Largest upload accepted (default 8 GiB). */
  maxBytes?: number;
}

export interface RunningBlobServer {
  store: BlobStore;
  /** `http://host:port` */
  url: string;
  port: number;
  close(): Promise<void>;
}

type Access = 'token' | 'read' | 'signed';

function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  const e = toSlipwayError(err);
  if (e.status >= 500) log.error({ err: (e.cause ?? err) as Error }, 'blob request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code: e.code, message: e.expose ? e.message : 'internal error' } });
  const headers: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
  if (e.status === 401) headers['WWW-Authenticate'] = 'Bearer realm="slipway-blobs"';
  res.writeHead(e.status, headers);
  res.end(body);
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → inclusive [start, end]; null = ignore (serve whole); 'unsatisfiable'. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null; // multi-range or junk: RFC 9110 lets us send it all
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return null;
  }
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export async function startBlobServer(o: BlobServerOptions): Promise<RunningBlobServer> {
  if (!o.token) throw new SlipwayError('invalid_params', 'the blob server needs a token');
  const log = o.log ?? silentLogger;
  if (!o.store && !o.dir) throw new SlipwayError('invalid_params', 'the blob server needs a dir or a store');
  const store = o.store ?? (await BlobStore.open(o.dir!));
  const maxBytes = o.maxBytes ?? 8 * 2 ** 30;
  const readToken = agentReadToken(o.token);

  function authorize(req: IncomingMessage, url: URL, id: string | null): Access {
    const auth = req.headers.authorization;
    const bearer = auth?.startsWith('Bearer ') ? auth.slice(7) : null;
    const given = bearer ?? url.searchParams.get('token');
    if (given !== null) {
      if (safeEqual(given, o.token)) return 'token';
      if (safeEqual(given, readToken)) {
        if (id !== null && (req.method === 'GET' || req.method === 'HEAD')) return 'read';
        throw new SlipwayError('forbidden', 'the read token only reads blobs (GET or HEAD /blobs/<id>)');
      }
      throw new SlipwayError('unauthorized', 'invalid token');
    }
    const sig = url.searchParams.get('sig');
    if (sig !== null && id !== null && (req.method === 'GET' || req.method === 'HEAD')) {
      const check = checkSignature(o.token, id, url.searchParams.get('exp') ?? '', sig);
      if (check === 'ok') return 'signed';
      throw new SlipwayError('forbidden', check === 'expired' ? 'signed URL expired' : 'bad signature');
    }
    throw new SlipwayError('unauthorized', 'a bearer token or a signed URL is required');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://blobs');
    const path = url.pathname;
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 3 });
      res.end(req.method === 'HEAD' ? undefined : 'ok\n');
      return;
    }
    if (path === '/blobs' || path === '/blobs/') {
      authorize(req, url, null);
      if (req.method === 'PUT' || req.method === 'POST') return putBlob(req, res, url);
      if (req.method === 'GET') {
        const items = await store.list();
        const body = JSON.stringify({ items: items.map(({ id, size, mtimeMs }) => ({ id, size, modifiedAt: new Date(mtimeMs).toISOString() })), usage: { blobs: items.length, bytes: items.reduce((n, b) => n + b.size, 0) } });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      throw methodNotAllowed(res, 'GET, PUT, POST');
    }
    const m = /^\/blobs\/([^/]+)$/.exec(path);
    if (!m) throw new SlipwayError('not_found', `no route ${path}`);
    const id = decodeURIComponent(m[1]!);
    if (!BLOB_ID_RE.test(id)) {
      // Before auth: an id that cannot exist is a client error whoever asks.
      throw new SlipwayError('invalid_params', 'not a blob id: 64 lowercase hex digits (sha256)');
    }
    authorize(req, url, id);
    if (req.method === 'GET' || req.method === 'HEAD') return getBlob(req, res, id);
    if (req.method === 'DELETE') {
      if (!(await store.delete(id))) throw new SlipwayError('not_found', `no blob ${id}`);
      res.writeHead(204);
      res.end();
      return;
    }
    throw methodNotAllowed(res, 'GET, HEAD, DELETE');
  }

  function methodNotAllowed(res: ServerResponse, allow: string): SlipwayError {
    res.setHeader('Allow', allow);
    return new SlipwayError('method_not_allowed', `method not allowed (allowed: ${allow})`);
  }

  async function putBlob(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const sha256 = url.searchParams.get('sha256') ?? undefined;
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > maxBytes) throw new SlipwayError('payload_too_large', `blob larger than ${maxBytes} bytes`);
    const r = await store.put(req, { sha256, maxBytes });
    const body = JSON.stringify(r);
    res.writeHead(r.created ? 201 : 200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Location: `/blobs/${r.id}` });
    res.end(body);
    log.debug({ id: r.id, size: r.size, created: r.created }, 'blob stored');
  }

  async function getBlob(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const info = await store.stat(id);
    if (!info) throw new SlipwayError('not_found', `no blob ${id}`);
    const etag = `"${id}"`;
    const base = { ETag: etag, 'Accept-Ranges': 'bytes', 'Cache-Control': 'private, max-age=31536000, immutable', 'Content-Type': 'application/octet-stream' };
    const inm = req.headers['if-none-match'];
    if (inm && (inm === '*' || inm.split(',').map((s) => s.trim().replace(/^W\//, '')).includes(etag))) {
      res.writeHead(304, base);
      res.end();
      return;
    }
    const ifRange = req.headers['if-range'];
    const range = ifRange && ifRange !== etag ? null : parseRange(req.headers.range, info.size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...base, 'Content-Range': `bytes */${info.size}`, 'Content-Length': 0 });
      res.end();
      return;
    }
    const status = range ? 206 : 200;
    const headers: Record<string, string | number> = { ...base, 'Content-Length': range ? range.end - range.start + 1 : info.size };
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${info.size}`;
    if (req.method === 'HEAD') {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const stream = await store.get(id, range ?? {});
    res.writeHead(status, headers);
    await pipeline(stream, res).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE') log.warn({ err, id }, 'blob download failed');
      res.destroy();
    });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // An upload refused before its body was read: answer, then close rather than read it all.
      if (!req.complete && !res.headersSent) res.setHeader('Connection', 'close');
      sendError(res, err, log);
    });
  });
  // Slugs can take minutes over a slow link: no request timeout, but idle sockets go.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  log.info({ port: addr.port, dir: store.dir }, 'blob server listening');
  return {
    store,
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
