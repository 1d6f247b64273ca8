// Appends every mutating call by an authenticated caller to the audit log, whatever its
// outcome (a refused attempt is worth knowing): who, route, app, status, request id.
import type { Middleware } from 'koa';
import type { Logger } from '../../../layer0/common/logger.ts';
import type { Store } from '../store/index.ts';
import type { AnyRoute, ControllerState } from '../http/route.ts';
import { normalize, statusOf } from './errors.ts';

export function audit(route: AnyRoute, store: Store, log: Logger): Middleware<ControllerState> {
  if (!(route.audit ?? route.method !== 'get') || route.access.kind === 'public') return (_ctx, next) => next();
  return async (ctx, next) => {
    let status = 500;
    try {
      await next();
      status = ctx.status;
    } catch (err) {
      const e = normalize(err);
      status = statusOf(e.code, e.status);
      throw err;
    } finally {
      const p = ctx.state.principal;
      if (p) {
        const app = ctx.state.app?.name ?? (ctx as unknown as { params?: { app?: string } }).params?.app ?? null;
        await store.audit
          .append({ user: p.userName, tokenId: p.tokenId, method: ctx.method, route: `/v1${route.path}`, path: ctx.path, app, status, requestId: ctx.state.requestId })
          .catch((err: Error) => log.error({ reqId: ctx.state.requestId, err: err.message }, 'audit append failed'));
      }
    }
  };
}
