// The dashboard's error edge: any failure becomes an HTML page with the right status (the
// controller's JSON error edge is for /v1). A 401 from the API means the session's token was
// revoked: the session ends and the person logs in again. Causes of 5xx are logged, not shown.
import type { Logger } from '../layer0/common/logger.ts';
import { ApiError } from './api.ts';
import { PageError, type WebMiddleware } from './http.ts';
import type { Pages } from './pages.ts';
import { COOKIE, type Sessions } from './session.ts';

export function errorPages(pages: Pages, sessions: Sessions, log: Logger): WebMiddleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof PageError) return pages.error(ctx, err.status, err.title, err.message);
      if (err instanceof ApiError) {
        if (err.status === 401) {
          if (ctx.state.session) await sessions.destroy(ctx.state.session.id);
          ctx.cookies.set(COOKIE, null, { httpOnly: true, sameSite: 'strict', path: '/' });
          ctx.state.session = undefined;
          return ctx.redirect('/login?expired=1');
        }
        if (err.status === 403) return pages.error(ctx, 403, 'Not allowed', `Your role does not allow this (${err.message}). Ask an owner of the app for more access.`);
        if (err.status === 404) return pages.error(ctx, 404, 'Not found', err.message);
        if (err.status < 500) return pages.error(ctx, err.status, 'That did not work', err.message);
        log.warn({ reqId: ctx.state.requestId, status: err.status, code: err.code }, 'dashboard: the API failed');
        return pages.error(ctx, 502, 'The platform did not answer', 'The API failed or is unavailable right now. Try again in a moment.');
      }
      log.error({ reqId: ctx.state.requestId, err }, 'dashboard: page failed');
      pages.error(ctx, 500, 'Something went wrong', 'The dashboard failed to show this page. Try again; if it persists, the platform log has the details.');
    }
  };
}
