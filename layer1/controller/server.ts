// startController: connect to Redis, migrate the data model, make the admin user and token on
// the first start, and serve the Koa app on host:port. Called by `slipway up` and tests.
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import type { Redis } from 'ioredis';
import { connectRedis } from '../../layer0/discovery/client.ts';
import type { Logger } from '../../layer0/common/logger.ts';
import { Store, DEFAULT_PREFIX } from './store/index.ts';
import { migrate } from './store/migrations.ts';
import { createControllerApp, type ControllerApp, type ControllerDeps } from './app.ts';
import { ensureAdmin } from './bootstrap.ts';
import { routeUpgrades } from './http/upgrade.ts';
import { GitReceiver } from '../gitreceiver/server.ts';
import type { PushPipeline } from '../gitreceiver/types.ts';
import { createDashboard } from '../../web/index.ts';

export const DEFAULT_API_PORT = 7000;

export interface StartControllerOptions extends Pick<ControllerDeps, 'routes' | 'deploy' | 'onAppDeleted' | 'onAppRenamed' | 'bodyLimit' | 'router' | 'limits'> {
  redisUrl: string;
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  log: Logger;
  /** SLIPWAY_HOME: the admin token is written to `<home>/admin-token` (0600). */
  home: string;
  keyPrefix?: string;
  /** Serve `/git/<app>.git` (smart HTTP): the repos' directory, the hooks' socket, and what a push runs. */
  git?: { dir: string; hookSocket: string; pipeline: PushPipeline; maxPushBytes?: number };
  /** Serve the web dashboard at `/` (default true); it calls /v1 over loopback. */
  web?: boolean;
}

export interface RunningController {
  port: number;
  /** The admin token, only when this start created it (the first start of a fresh store). */
  adminToken?: string;
  adminTokenPath: string;
  store: Store;
  redis: Redis;
  app: ControllerApp;
  git: GitReceiver | null;
  close(): Promise<void>;
}

export async function startController(opts: StartControllerOptions): Promise<RunningController> {
  const log = opts.log.child({ component: 'controller' }, { redact: { paths: ['authorization', 'headers.authorization', 'req.headers.authorization', 'token', '*.token'], censor: '[redacted]' } });
  const redis = connectRedis(opts.redisUrl, { log, name: 'slipway-controller' });
  try {
    const store = new Store(redis, opts.keyPrefix ?? DEFAULT_PREFIX);
    const version = await migrate(redis, store.keys, log);
    const admin = await ensureAdmin(store, opts.home, log);
    const git = opts.git ? new GitReceiver({ ...opts.git, store, log: log.child({ component: 'git' }) }) : null;
    const onAppDeleted = async (a: Parameters<NonNullable<ControllerDeps['onAppDeleted']>>[0]) => {
      await git?.repos.remove(a.id);
      await opts.onAppDeleted?.(a);
    };
    let listening = { host: '127.0.0.1', port: 0 };
    const web = opts.web === false ? undefined : createDashboard({ redis, keyPrefix: store.keys.prefix, log: log.child({ component: 'web' }), api: () => listening });
    const app = createControllerApp({ ...opts, onAppDeleted, redis, store, log, web });
    await app.publisher.syncAll();
    await git?.start();
    const koa = app.koa.callback();
    const server = createServer((req, res) => {
      if (!git?.handle(req, res)) void koa(req, res);
    });
    server.keepAliveTimeout = 5000;
    // WebSockets (the interactive run) go through the same app: same auth, audit and 404/403.
    const upgrades = routeUpgrades(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    listening = { host: loopbackOf(opts.host ?? '127.0.0.1'), port };
    log.info({ port, host: opts.host ?? '127.0.0.1', schema: version }, 'controller listening');
    return {
      port,
      ...(admin.token ? { adminToken: admin.token } : {}),
      adminTokenPath: admin.path,
      store,
      redis,
      app,
      git,
      async close() {
        await git?.close();
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
          upgrades.close();
        });
        await redis.quit().catch(() => undefined);
        redis.disconnect();
      },
    };
  } catch (err) {
    redis.disconnect();
    throw err;
  }
}

/** An address this process can call itself on: the bound one, or loopback for a wildcard bind. */
function loopbackOf(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
}
