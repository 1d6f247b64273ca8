// HTTP upgrades (WebSockets) go through the same Koa app as every other request, so a route
// that takes one gets the same request id, access log, authentication, audit, validation and
// 404/403 rules: server.ts hands each `upgrade` event to the app as a request whose response
// writes to the raw socket (errors then reach the client as ordinary HTTP answers, and the
// socket closes after them). A route accepts the upgrade with `takeUpgrade(ctx)`.
import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Ctx } from './route.ts';

const pending = new WeakMap<IncomingMessage, { socket: Duplex; head: Buffer }>();

export interface UpgradeHook {
  /** Destroys the sockets of upgraded connections still open (their sessions clean up on close). */
  close(): void;
}

/** Routes `server`'s upgrade requests through its own `request` listener (the Koa app). */
export function routeUpgrades(server: Server): UpgradeHook {
  const live = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    live.add(socket);
    socket.once('close', () => live.delete(socket));
    pending.set(req, { socket, head });
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as never);
    // An answer other than the upgrade (401, 404, 422…): the connection ends with it.
    res.once('finish', () => {
      res.detachSocket(socket as never);
      socket.end();
    });
    server.emit('request', req, res);
  });
  return {
    close() {
      for (const s of live) s.destroy();
    },
  };
}

/** True when the request came as an HTTP upgrade that nothing has taken yet. */
export function isUpgrade(ctx: Ctx): boolean {
  return pending.has(ctx.req);
}

/**
 * Takes over an upgrade request's connection: Koa will not answer it (`respond = false`), and
 * the caller writes the 101 (e.g. through `ws`'s `handleUpgrade`). Null when not an upgrade.
 */
export function takeUpgrade(ctx: Ctx): { req: IncomingMessage; socket: Duplex; head: Buffer } | null {
  const u = pending.get(ctx.req);
  if (!u) return null;
  pending.delete(ctx.req);
  ctx.respond = false;
  const res = ctx.res as ServerResponse;
  if (res.socket) res.detachSocket(res.socket);
  return { req: ctx.req, ...u };
}
