// One log line per request: method, path, status, duration, request id, caller. It never
// logs headers or the query string, so a token cannot reach the log from here.
import type { Middleware } from 'koa';
import type { Logger } from '../../../layer0/common/logger.ts';
import type { ControllerState } from '../http/route.ts';

export function accessLog(log: Logger): Middleware<ControllerState> {
  return async (ctx, next) => {
    const t0 = performance.now();
    try {
      await next();
    } finally {
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      const p = ctx.state.principal;
      const line = { reqId: ctx.state.requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms, user: p?.userName, tokenId: p?.tokenId };
      if (ctx.status >= 500) log.warn(line, 'request');
      else if (log.isLevelEnabled('debug') || ctx.status >= 400) log.info(line, 'request');
    }
  };
}
