// Logging in with an API token and out. The token is checked with POST /v1/login (which the audit log records), then kept
// server-side in the session (session.ts); the browser gets only the session's random id.
// The login form has its own double-submit token (a SameSite=Strict cookie and a hidden field).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type Router from '@koa/router';
import { ApiError, createApi } from '../api.ts';
import type { DashboardDeps } from '../app.ts';
import { PageError, type WebCtx, type WebState } from '../http.ts';
import { COOKIE } from '../session.ts';
import type { TokenRole } from '../../layer1/controller/types.ts';

const LOGIN_COOKIE = 'slipway_login';

interface WhoAmI {
  user: { name: string; admin: boolean };
  token: { role: TokenRole; app: string | null };
}

/** Only a path of this site (`/apps/x`), never `//other.example` or a full URL. */
function safeNext(v: unknown): string {
  return typeof v === 'string' && /^\/(?![/\\])[\x21-\x7e]*$/.test(v) && !v.startsWith('/login') ? v : '/';
}

function cookieOptions(ctx: WebCtx) {
  return { httpOnly: true, sameSite: 'strict' as const, secure: ctx.secure, path: '/', overwrite: true };
}

export function authRoutes(router: Router<WebState>, { sessions, pages, api }: DashboardDeps): void {
  async function form(ctx: WebCtx, data: Record<string, unknown> = {}, status = 200) {
    const token = randomBytes(24).toString('base64url');
    ctx.cookies.set(LOGIN_COOKIE, token, { ...cookieOptions(ctx), maxAge: 3600_000 });
    await pages.render(ctx, 'login', 'Log in', { loginCsrf: token, next: safeNext(ctx.query.next ?? data.next), bare: true, ...data }, status);
  }

  router.get('/login', async (ctx) => {
    if (ctx.state.session) return ctx.redirect('/');
    await form(ctx, {
      notice: ctx.query.expired ? 'Your session ended (the token was revoked or expired). Log in again.' : ctx.query.out ? 'You are logged out.' : undefined,
    });
  });

  router.post('/login', async (ctx) => {
    const f = ctx.state.form ?? {};
    const cookie = ctx.cookies.get(LOGIN_COOKIE) ?? '';
    const sent = f._csrf ?? '';
    if (!cookie || cookie.length !== sent.length || !timingSafeEqual(Buffer.from(cookie), Buffer.from(sent))) {
      throw new PageError(403, 'Refused: this form has expired', 'The login form did not come from this page. Reload it and try again.');
    }
    const token = (f.token ?? '').trim();
    if (!token) return form(ctx, { error: 'Enter an API token.', next: f.next }, 422);
    let who: WhoAmI;
    try {
      who = await createApi(api, token, ctx.state.requestId).send<WhoAmI>('POST', '/login'); // audited: a dashboard login, or a refused token
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return form(ctx, { error: 'That token is unknown or revoked.', next: f.next }, 401);
      throw err;
    }
    if (ctx.state.session) await sessions.destroy(ctx.state.session.id);
    const s = await sessions.create({ token, user: who.user.name, admin: who.user.admin, tokenRole: who.token.role, tokenApp: who.token.app });
    ctx.cookies.set(COOKIE, s.id, cookieOptions(ctx));
    ctx.cookies.set(LOGIN_COOKIE, null, cookieOptions(ctx));
    ctx.redirect(safeNext(f.next));
    ctx.status = 303;
  });
}

export function logoutRoute(router: Router<WebState>, { sessions }: DashboardDeps): void {
  router.post('/logout', async (ctx) => {
    await sessions.destroy(ctx.state.session!.id);
    ctx.cookies.set(COOKIE, null, cookieOptions(ctx));
    ctx.redirect('/login?out=1');
    ctx.status = 303;
  });
}
