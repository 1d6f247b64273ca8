// The dashboard's small HTTP pieces, one concern each: composing middleware, security headers
// (a strict CSP: scripts, styles and connections from this origin only, no inline code),
// static assets from static/ (public), urlencoded form bodies, and the cross-site checks.
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Middleware, Next, ParameterizedContext } from 'koa';
import type { Api } from './api.ts';
import type { Session } from './session.ts';

export interface WebState {
  requestId?: string;
  session?: Session;
  api?: Api;
  form?: Record<string, string>;
}
export type WebCtx = ParameterizedContext<WebState>;
export type WebMiddleware = (ctx: WebCtx, next: Next) => Promise<unknown>;

/** A page or form error shown as an HTML page with its status. */
export class PageError extends Error {
  constructor(readonly status: number, readonly title: string, message: string) {
    super(message);
  }
}

export function compose(list: WebMiddleware[]): WebMiddleware {
  return (ctx, next) => {
    const run = (i: number): Promise<unknown> => (i === list.length ? next() : list[i]!(ctx, () => run(i + 1) as Promise<void>));
    return run(0);
  };
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function securityHeaders(): WebMiddleware {
  return async (ctx, next) => {
    ctx.set('Content-Security-Policy', CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'same-origin');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
    await next();
  };
}

const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png' };

/** Serves the files of `dir` (read once at start) at `/static/<name>`; anyone may fetch them. */
export function staticFiles(dir: string): WebMiddleware {
  const files = new Map<string, { body: Buffer; type: string; etag: string }>();
  for (const name of readdirSync(dir)) {
    const ext = name.slice(name.lastIndexOf('.'));
    if (!TYPES[ext]) continue;
    const body = readFileSync(join(dir, name));
    files.set(`/static/${name}`, { body, type: TYPES[ext]!, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
  }
  return async (ctx, next) => {
    if (!ctx.path.startsWith('/static/') && ctx.path !== '/favicon.ico') return next();
    const f = files.get(ctx.path === '/favicon.ico' ? '/static/favicon.svg' : ctx.path);
    if (!f || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) {
      ctx.status = 404;
      ctx.type = 'text/plain';
      ctx.body = 'not found';
      return;
    }
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('ETag', f.etag);
    if (ctx.get('If-None-Match') === f.etag) {
      ctx.status = 304;
      return;
    }
    ctx.type = f.type;
    ctx.body = f.body;
  };
}

const FORM_LIMIT = 128 * 1024;

/** Reads an `application/x-www-form-urlencoded` POST body into `ctx.state.form` (last value of a name wins). */
export function formBody(): WebMiddleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST') return next();
    if (!ctx.is('application/x-www-form-urlencoded')) throw new PageError(415, 'Unsupported form', 'This form must be sent by the page it came from.');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of ctx.req) {
      size += (c as Buffer).length;
      if (size > FORM_LIMIT) throw new PageError(413, 'Too much to send', 'The form is over 128 KiB; config values are at most 32 KiB each.');
      chunks.push(c as Buffer);
    }
    const form: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) form[k] = v;
    ctx.state.form = form;
    return next();
  };
}

/**
 * Refuses a POST another site started: a browser names the page's origin in `Origin` (and says
 * `Sec-Fetch-Site`); it must be this dashboard's. Together with the form token and the
 * SameSite=Strict cookie (https://owasp.org/www-community/attacks/csrf).
 */
export function sameOrigin(): WebMiddleware {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      const origin = ctx.get('Origin');
      const site = ctx.get('Sec-Fetch-Site');
      const mine = `${ctx.protocol}://${ctx.host}`;
      if ((origin && origin !== mine) || (site && site !== 'same-origin' && site !== 'none')) {
        throw new PageError(403, 'Refused: another site sent this form', 'Forms are accepted only from this dashboard. Go back, reload the page and try again.');
      }
    }
    return next();
  };
}

export function asMiddleware(mw: WebMiddleware): Middleware {
  return mw as unknown as Middleware;
}
