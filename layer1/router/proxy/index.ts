// The router's data plane: an HTTP/1.1 reverse proxy on plain sockets (see README.md, "data
// plane"). The control plane composes it: createProxy({ table, log }) and listenHttp/listenHttps.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from '../../../layer0/common/logger.ts';
import type { AccessRecord, RouteTable } from '../types.ts';
import { BackendPool } from './backend-pool.ts';
import { ClientConn, onSharedRead } from './client-conn.ts';
import type { ProxyCore } from './core.ts';
import { Metrics } from './metrics.ts';
import { useSharedReads } from './shared-read.ts';

/** How long a request head may take from its first byte (SLIPWAY_ROUTER_HEAD_TIMEOUT). */
export const DEFAULT_HEAD_MS = 20_000;

export interface ProxyOptions {
  table: RouteTable;
  log: Logger;
  /** One call per request, also for answers the router makes itself. */
  onAccess?: (r: AccessRecord) => void;
  /** headMs: a request head must be whole within this from its first byte (default 20 s; slowloris). */
  timeouts?: { connectMs?: number; firstByteMs?: number; idleMs?: number; headMs?: number };
  /** How long a backend that failed a connect gets no requests (default 5000). */
  ejectMs?: number;
  /** Larger request heads get 431 (default 16 KiB). */
  maxHeaderBytes?: number;
}

export interface Proxy {
  listenHttp(host: string, port: number): Promise<AddressInfo>;
  /** TLS: SNI chooses table.secureContext(name) ?? the default certificate. */
  listenHttps(host: string, port: number, defaultCert: { cert: string; key: string }): Promise<AddressInfo>;
  /** Prometheus text: per-app requests, status classes, latency histogram. */
  metricsText(): string;
  /** Stop accepting; let in-flight requests finish up to drainMs; then destroy sockets. */
  close(drainMs?: number): Promise<void>;
}

export function createProxy(o: ProxyOptions): Proxy {
  const core: ProxyCore = {
    table: o.table,
    log: o.log,
    onAccess: o.onAccess,
    connectMs: o.timeouts?.connectMs ?? 5000,
    firstByteMs: o.timeouts?.firstByteMs ?? 30_000,
    idleMs: o.timeouts?.idleMs ?? 60_000,
    headMs: o.timeouts?.headMs ?? DEFAULT_HEAD_MS,
    ejectMs: o.ejectMs ?? 5000,
    maxHeaderBytes: o.maxHeaderBytes ?? 16 * 1024,
    pool: new BackendPool(),
    metrics: new Metrics(),
    clients: new Set(),
    closing: false,
    httpsPort: null,
  };
  const servers: Server[] = [];

  // One timer checks every connection's deadlines, instead of a timer per request.
  const every = Math.min(1000, Math.max(10, Math.min(core.connectMs, core.firstByteMs, core.idleMs, core.headMs) / 4));
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const c of core.clients) c.sweep(now);
    core.pool.sweep(now, core.idleMs, core.connectMs);
  }, every);
  sweep.unref();

  function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
    servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog: 4096 }, () => {
        server.off('error', reject);
        server.on('error', (err) => o.log.error({ err }, 'router listener error'));
        resolve(server.address() as AddressInfo);
      });
    });
  }

  return {
    listenHttp(host, port) {
      const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (sock: Socket) => {
        if (core.closing) return void sock.destroy();
        new ClientConn(core, sock, 'http', useSharedReads(sock, onSharedRead));
        sock.resume();
      });
      return listen(server, host, port);
    },

    async listenHttps(host, port, defaultCert) {
      const fallback = createSecureContext({ cert: defaultCert.cert, key: defaultCert.key });
      const server = createTlsServer({
        cert: defaultCert.cert,
        key: defaultCert.key,
        allowHalfOpen: true,
        ALPNProtocols: ['http/1.1'],
        SNICallback: (name, cb) => {
          let ctx = null;
          try {
            ctx = core.table.secureContext(name.toLowerCase());
          } catch (err) {
            o.log.warn({ err, name }, 'no certificate context for this name; using the default');
          }
          cb(null, ctx ?? fallback);
        },
      });
      server.on('secureConnection', (sock: TLSSocket) => {
        if (core.closing) sock.destroy();
        else new ClientConn(core, sock, 'https');
      });
      server.on('tlsClientError', () => {
        // a failed handshake is the client's business; nothing to answer
      });
      const addr = await listen(server, host, port);
      core.httpsPort = addr.port;
      return addr;
    },

    metricsText() {
      return core.metrics.text({ idle: core.pool.idleCount, active: core.pool.all.size - core.pool.idleCount });
    },

    async close(drainMs = 5000) {
      core.closing = true;
      const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      for (const c of core.clients) c.closeIfIdle();
      const deadline = Date.now() + drainMs;
      while (core.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const c of core.clients) c.destroy();
      core.pool.destroyAll();
      clearInterval(sweep);
      await Promise.all(closed);
    },
  };
}
