// Every request gets an id: the caller's `X-Request-Id` when it is sane, else a new UUID.
// It is echoed in the response and carried by the access log and the audit log.
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { ControllerState } from '../http/route.ts';

const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(): Middleware<ControllerState> {
  return async (ctx, next) => {
    const given = ctx.get('X-Request-Id');
    ctx.state.requestId = SANE.test(given) ? given : randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    await next();
  };
}
