// The agent's HTTP edge: one node http server per listener (unix socket, optional TCP with a
// bearer token), common Docker headers, routing (plain and upgrade requests), error mapping.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../common/logger.ts';
import { upgradedSockets, writeRawResponse } from './hijack.ts';
import { COMMON_HEADERS, errorReply, sendEmpty, sendJson } from './http.ts';
import type { FencingGuard } from './fencing.ts';
import type { Router } from './router.ts';

export interface ApiServerOptions {
  router: Router;
  log: Logger;
  /** When set, every request needs `Authorization: Bearer <token>` (the TCP listener). */
  token?: string;
  /** Refuses mutating calls with a stale fencing token. */
  fence?: FencingGuard;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function authorized(req: IncomingMessage, tokenDigest: Buffer | null): boolean {
  if (!tokenDigest) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  // Compare digests of equal length in constant time, whatever the token's length.
  return m !== null && timingSafeEqual(digest(m[1]!), tokenDigest);
}

export function createApiServer(opts: ApiServerOptions): Server {
  const { router, log } = opts;
  const tokenDigest = opts.token ? digest(opts.token) : null;
  const debug = log.isLevelEnabled('debug');

  async function handle(req: IncomingMessage, res: ServerResponse | null, upgrade: { socket: Duplex; head: Buffer } | null): Promise<void> {
    if (res) for (const [k, v] of Object.entries(COMMON_HEADERS)) res.setHeader(k, v);
    const fail = (status: number, message: string) => {
      if (res) {
        if (!res.headersSent) {
          if (status === 304) sendEmpty(res, 304);
          else sendJson(res, status, { message });
        } else res.destroy();
      } else if (upgrade) {
        if (upgradedSockets.has(upgrade.socket)) upgrade.socket.destroy();
        else writeRawResponse(upgrade.socket, status, JSON.stringify({ message }), 'application/json', COMMON_HEADERS);
      }
    };
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (debug) log.debug({ method: req.method, url, upgrade: upgrade !== null }, 'request');
    if (!authorized(req, tokenDigest)) {
      req.resume();
      return fail(401, 'unauthorized');
    }
    const hit = router.match(req.method ?? 'GET', path);
    if (!hit) {
      req.resume();
      return fail(404, 'page not found');
    }
    if (upgrade && !hit.route.upgrade) return fail(400, 'this endpoint cannot be upgraded');
    try {
      opts.fence?.check(req);
    } catch (err) {
      req.resume();
      const { status, message } = errorReply(err, log, `${req.method} ${path}`);
      return fail(status, message);
    }
    if (!upgrade && !hit.route.body) req.resume();
    try {
      await hit.route.handler({ req, res, upgrade, params: hit.params, query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)) });
    } catch (err) {
      const { status, message } = errorReply(err, log, `${req.method} ${path}`);
      fail(status, message);
    }
  }

  const server = createServer({ maxHeaderSize: 1 << 20, requestTimeout: 0 }, (req, res) => void handle(req, res, null));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => debug && log.debug({ err }, 'hijacked socket error'));
    void handle(req, null, { socket, head });
  });
  server.on('clientError', (err, socket) => {
    if (debug) log.debug({ err }, 'client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}
