// The dashboard as one Koa middleware, mounted by the controller after /v1 (app.ts there):
// security headers → static assets (public) → HTML error pages → session → cross-site checks
// → form body → the page routes (/login public; anything else needs a session).
import { join } from 'node:path';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Redis } from 'ioredis';
import type { Logger } from '../layer0/common/logger.ts';
import { createApi, type ApiBase } from './api.ts';
import { PageError, asMiddleware, compose, formBody, sameOrigin, securityHeaders, staticFiles, type WebCtx, type WebState } from './http.ts';
import { errorPages } from './errors.ts';
import { Sessions, COOKIE, csrfMatches } from './session.ts';
import { loadViews } from './views.ts';
import { Pages } from './pages.ts';
import { authRoutes, logoutRoute } from './routes/auth.ts';
import { appsRoutes } from './routes/apps.ts';
import { appPageRoutes } from './routes/app-pages.ts';
import { appActionRoutes } from './routes/app-actions.ts';
import { liveRoutes } from './routes/live.ts';

export interface DashboardOptions {
  redis: Redis;
  /** The controller's Redis key prefix; sessions live under `<prefix>web:session:`. */
  keyPrefix: string;
  /** Where the controller's /v1 listens, for the dashboard's own calls over loopback. */
  api: ApiBase;
  log: Logger;
}

/** Paths the dashboard leaves to the controller. */
const API_PATH = /^\/(v1|git|healthz|readyz|metrics)(\/|$)/;

export function createDashboard(o: DashboardOptions): Middleware {
  const sessions = new Sessions(o.redis, o.keyPrefix);
  const pages = new Pages(loadViews(), sessions);
  const deps = { sessions, pages, api: o.api, log: o.log };

  const router = new Router<WebState>();
  authRoutes(router, deps);
  // Everything registered after this needs a session: without one, a page redirects to /login.
  router.use(async (ctx, next) => {
    if (!ctx.state.session) {
      if (ctx.method === 'GET' && ctx.path !== '/') return ctx.redirect(`/login?next=${encodeURIComponent(ctx.originalUrl)}`);
      return ctx.redirect('/login');
    }
    // Every form carries the session's token (hidden `_csrf`); a POST without it is refused.
    if (ctx.method === 'POST' && !csrfMatches(ctx.state.session, ctx.state.form?._csrf)) {
      throw new PageError(403, 'Refused: this form has expired', 'The form did not carry this session\'s token (it came from another site, or from before you logged in again). Reload the page and try again.');
    }
    return next();
  });
  logoutRoute(router, deps);
  appsRoutes(router, deps);
  appPageRoutes(router, deps);
  appActionRoutes(router, deps);
  liveRoutes(router, deps);

  const chain = compose([
    securityHeaders(),
    staticFiles(join(import.meta.dirname, 'static')),
    errorPages(pages, sessions, o.log),
    async (ctx, next) => {
      const session = await sessions.get(ctx.cookies.get(COOKIE));
      if (session) {
        ctx.state.session = session;
        ctx.state.api = createApi(o.api, session.token, ctx.state.requestId);
      }
      ctx.set('Cache-Control', 'no-store');
      return next();
    },
    sameOrigin(),
    formBody(),
    router.routes() as never,
    async (ctx: WebCtx) => {
      if (!ctx.state.session) return ctx.redirect('/login');
      pages.error(ctx, 404, 'Page not found', 'There is nothing at this address.');
    },
  ]);
  return asMiddleware(async (ctx, next) => (API_PATH.test(ctx.path) ? next() : chain(ctx, next as never)));
}

export type DashboardDeps = { sessions: Sessions; pages: Pages; api: ApiBase; log: Logger };
