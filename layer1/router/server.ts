// startRouter: the control plane around the proxy. Routes and certificates come from the
// controller's Redis keys (route-source.ts), backends from discovery (backends.ts), the default
// certificate from $SLIPWAY_HOME/router; the proxy serves HTTP and HTTPS, admin.ts serves
// /metrics and /healthz. Called by `slipway up` and tests; stateless, so several can run.
import { envInt } from '../../layer0/common/settings.ts';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../layer0/common/logger.ts';
import { connectRedis, createDiscovery, type Discovery } from '../../layer0/discovery/index.ts';
import { createProxy } from './proxy/index.ts';
import { startAdmin, type AdminServer, type ControlPlaneStats } from './admin.ts';
import { Backends } from './backends.ts';
import { CertStore, ensureDefaultCert } from './certs.ts';
import { RouteSource } from './route-source.ts';
import { LiveRouteTable } from './table.ts';
import type { AccessRecord } from './types.ts';

export const DEFAULT_HTTP_PORT = 8080;
export const DEFAULT_HTTPS_PORT = 8443;
export const DEFAULT_ADMIN_PORT = 7002;
export const DEFAULT_DOMAIN = 'localhost';

/** A port from a flag or the environment (`what` names it in the error); `fallback` when unset. */
export function portSetting(v: string | undefined, fallback: number, what: string): number {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${what} must be a port number (0-65535), got ${JSON.stringify(v)}`);
  return n;
}

/** The router's address, ports and domain from the environment (DESIGN.md): SLIPWAY_BIND, SLIPWAY_HTTP_PORT, _HTTPS_PORT, _ROUTER_ADMIN_PORT, SLIPWAY_DOMAIN. */
export function routerSettings(env: NodeJS.ProcessEnv = process.env): { host: string; httpPort: number; httpsPort: number; adminPort: number; domain: string } {
  return {
    host: env.SLIPWAY_BIND ?? '127.0.0.1',
    httpPort: portSetting(env.SLIPWAY_HTTP_PORT, DEFAULT_HTTP_PORT, 'SLIPWAY_HTTP_PORT'),
    httpsPort: portSetting(env.SLIPWAY_HTTPS_PORT, DEFAULT_HTTPS_PORT, 'SLIPWAY_HTTPS_PORT'),
    adminPort: portSetting(env.SLIPWAY_ROUTER_ADMIN_PORT, DEFAULT_ADMIN_PORT, 'SLIPWAY_ROUTER_ADMIN_PORT'),
    domain: env.SLIPWAY_DOMAIN || DEFAULT_DOMAIN,
  };
}

export interface StartRouterOptions {
  /** The controller's Redis (routes, certificates), also discovery's unless `discovery` is given. */
  redisUrl: string;
  /** The controller's key prefix (default `ctl:`). */
  controllerPrefix?: string;
  /** A discovery client to watch backends with (left open by close); else one on redisUrl. */
  discovery?: Discovery;
  discoveryPrefix?: string;
  /** SLIPWAY_DOMAIN: apps answer on `<app>.<domain>` (default `localhost`). */
  domain?: string;
  /** Where every port binds (default 127.0.0.1). */
  host?: string;
  /** 0 picks a free port (tests). */
  httpPort: number;
  /** Null: no HTTPS listener. */
  httpsPort?: number | null;
  /** Null: no admin listener. */
  adminPort?: number | null;
  /** SLIPWAY_HOME: the default certificate lives in `<home>/router/`. */
  home: string;
  log: Logger;
  onAccess?: (r: AccessRecord) => void;
  /** headMs default: SLIPWAY_ROUTER_HEAD_TIMEOUT seconds (20): a request head's deadline from its first byte. */
  timeouts?: { connectMs?: number; firstByteMs?: number; idleMs?: number; headMs?: number };
  ejectMs?: number;
  maxHeaderBytes?: number;
  /** How often the route version is checked besides pub/sub (default 30 s). */
  resyncMs?: number;
  /** How long to wait at start for every app's backends before serving anyway (default 3 s). */
  syncTimeoutMs?: number;
}

export interface RunningRouter {
  http: AddressInfo;
  https: AddressInfo | null;
  admin: AddressInfo | null;
  table: LiveRouteTable;
  /** The version of the routes in use. */
  readonly version: number;
  /** Resolves once routes of at least `version` are in use. */
  waitForVersion(version: number, timeoutMs?: number): Promise<void>;
  stats(): ControlPlaneStats;
  /** Stops listening, lets requests in flight finish for up to drainMs, then closes everything. */
  close(drainMs?: number): Promise<void>;
}

export async function startRouter(o: StartRouterOptions): Promise<RunningRouter> {
  const log = o.log.child({ component: 'router' });
  const host = o.host ?? '127.0.0.1';
  const domain = (o.domain ?? DEFAULT_DOMAIN).toLowerCase();
  const redis = connectRedis(o.redisUrl, { log, name: 'slipway-router' });
  const discovery = o.discovery ?? createDiscovery({ url: o.redisUrl, keyPrefix: o.discoveryPrefix, log, sweepMs: 0 });
  const backends = new Backends(discovery, log);
  const certs = new CertStore(log);
  const table = new LiveRouteTable(domain, (service) => backends.pool(service), certs);
  const waiters = new Set<{ version: number; resolve(): void }>();
  const source = new RouteSource({
    redis, prefix: o.controllerPrefix ?? 'ctl:', log, resyncMs: o.resyncMs,
    onChange(s) {
      certs.set(s.certs);
      table.setRoutes(s.apps);
      backends.retain(table.services());
      log.debug({ version: s.version, apps: s.apps.length, certs: s.certs.length }, 'routes loaded');
      for (const w of waiters) if (s.version >= w.version) (waiters.delete(w), w.resolve());
    },
  });
  const stats = (): ControlPlaneStats => {
    const b = backends.stats();
    return {
      ready: source.loads > 0, version: source.version, apps: table.apps.length, certs: certs.size, redisConnected: source.connected,
      routeLoads: source.loads, routeLoadFailures: source.failures, lastLoadMs: source.loadedAt,
      services: b.services, servicesSynced: b.synced, backends: b.backends, backendChanges: backends.changes, perService: b.perService,
    };
  };

  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const c of closers.splice(0).reverse()) await Promise.resolve(c()).catch((err: Error) => log.warn({ err: err.message }, 'router close step failed'));
  };
  closers.push(() => redis.disconnect());
  if (!o.discovery) closers.push(() => discovery.close());
  closers.push(() => backends.close());
  try {
    await source.start();
    closers.push(() => source.close());
    // Serving before the backends are known would answer 503 for apps that have processes.
    if (!(await backends.whenSynced(o.syncTimeoutMs ?? 3000))) log.warn('some backend watches have no snapshot yet; serving anyway');
    const proxy = createProxy({
      table, log, onAccess: o.onAccess, timeouts: { ...o.timeouts, headMs: o.timeouts?.headMs ?? envInt(process.env, 'SLIPWAY_ROUTER_HEAD_TIMEOUT', 20, { min: 1, max: 3600 }) * 1000 }, ejectMs: o.ejectMs, maxHeaderBytes: o.maxHeaderBytes,
    });
    let drainMs: number | undefined;
    closers.push(() => proxy.close(drainMs));
    const http = await proxy.listenHttp(host, o.httpPort);
    let https: AddressInfo | null = null;
    if (o.httpsPort !== null && o.httpsPort !== undefined) {
      const def = await ensureDefaultCert(join(o.home, 'router'), domain, log);
      https = await proxy.listenHttps(host, o.httpsPort, def);
    }
    let admin: AdminServer | null = null;
    if (o.adminPort !== null && o.adminPort !== undefined) {
      admin = await startAdmin({ host, port: o.adminPort, metrics: () => proxy.metricsText(), stats });
      const a = admin;
      closers.push(() => a.close());
    }
    log.info({ http: http.port, https: https?.port ?? null, admin: admin?.address.port ?? null, host, domain, version: source.version }, 'router listening');
    return {
      http, https, admin: admin?.address ?? null, table, stats,
      get version() {
        return source.version;
      },
      waitForVersion(version, timeoutMs = 5000) {
        if (source.version >= version) return Promise.resolve();
        return new Promise<void>((resolve, reject) => {
          const w = { version, resolve: () => (clearTimeout(t), resolve()) };
          const t = setTimeout(() => (waiters.delete(w), reject(new Error(`routes of version ${version} not loaded within ${timeoutMs} ms (have ${source.version})`))), timeoutMs);
          waiters.add(w);
        });
      },
      async close(ms?: number) {
        drainMs = ms;
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
