// Composition root of `slipway router`: a router on its own, as every joined host runs one
// (Flynn's model: any host takes app traffic). Routes and certificates from the controller's
// Redis keys, backends from discovery, access lines into the apps' logs; stateless, so any number
// run beside `slipway up`'s. Stops on SIGTERM/SIGINT, letting requests in flight finish.
import { rmSync, writeFileSync } from 'node:fs';
import { createLogger } from '../../../layer0/common/logger.ts';
import { slipwayPaths } from '../../../layer0/common/paths.ts';
import { startAccessLog } from '../../logs/access-log.ts';
import { portSetting as port, routerSettings, startRouter } from '../../router/server.ts';

export interface RouterFlags {
  redis?: string;
  /** The address every listener binds (default SLIPWAY_BIND or 127.0.0.1). */
  bind?: string;
  httpPort?: string;
  /** A port, or false with --no-https. */
  httpsPort?: string | false;
  adminPort?: string | false;
  domain?: string;
  /** Written with this process's pid once serving, removed at stop. */
  pidFile?: string;
}

export async function runRouter(flags: RouterFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const log = createLogger('router');
  const url = flags.redis ?? env.SLIPWAY_REDIS_URL;
  if (!url) throw new Error('the router needs the cluster\'s Redis: --redis URL (or SLIPWAY_REDIS_URL)');
  const d = routerSettings(env);
  const host = flags.bind ?? d.host;
  const httpPort = port(flags.httpPort, d.httpPort, '--http-port');
  const httpsPort = flags.httpsPort === false ? null : port(flags.httpsPort, d.httpsPort, '--https-port');
  const adminPort = flags.adminPort === false ? null : port(flags.adminPort, d.adminPort, '--admin-port');
  const access = startAccessLog({ redisUrl: url, log });
  const router = await startRouter({
    redisUrl: url, domain: flags.domain ?? d.domain, host, httpPort, httpsPort, adminPort,
    home: slipwayPaths(env).home, log, onAccess: (r) => access.record(r),
  }).catch(async (err: unknown) => {
    await access.close();
    throw err;
  });
  if (flags.pidFile) writeFileSync(flags.pidFile, `${process.pid}\n`);
  log.info({ http: `${host}:${router.http.port}`, https: router.https?.port ?? null, admin: router.admin?.port ?? null }, 'router serving; stop with Ctrl-C');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping the router');
    if (flags.pidFile) rmSync(flags.pidFile, { force: true });
    router.close(2000).then(() => access.close()).then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'router close failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
