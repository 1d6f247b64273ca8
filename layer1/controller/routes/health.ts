// /healthz (the process is up) and /readyz (Redis answers within a second, and whatever else the
// platform adds, e.g. the router is up): public, outside /v1 and the OpenAPI document, for
// `slipway up --detach` and load balancers.
import Router from '@koa/router';
import type { Redis } from 'ioredis';
import type { ControllerState } from '../http/route.ts';

export const READY_TIMEOUT_MS = 1000;

/** `notReady()`: why the platform is not ready beyond Redis (null: it is). */
export function healthRouter(redis: Redis, notReady?: () => string | null): Router<ControllerState> {
  const router = new Router<ControllerState>();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((r) => (timer = setTimeout(() => r('timeout'), READY_TIMEOUT_MS)));
    const pong = await Promise.race([redis.ping().catch((err: Error) => err.message), timeout]);
    clearTimeout(timer);
    const why = pong === 'PONG' ? (notReady?.() ?? null) : `redis does not answer (${pong})`;
    ctx.status = why === null ? 200 : 503;
    ctx.body = why === null ? { status: 'ready' } : { error: { code: 'unavailable', message: why } };
  });
  return router;
}
