// `Authorization: Bearer <token>` → the caller (user + token), read from Redis on every
// request so a revoked token fails at once. Public routes skip it; anything else is 401.
import type { Middleware } from 'koa';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { principalOf } from '../auth/roles.ts';
import { bearer } from '../auth/token.ts';
import type { Store } from '../store/index.ts';
import type { AnyRoute, ControllerState } from '../http/route.ts';

export function authenticate(route: AnyRoute, store: Store): Middleware<ControllerState> {
  if (route.access.kind === 'public') return (_ctx, next) => next();
  return async (ctx, next) => {
    const secret = bearer(ctx.get('Authorization'));
    const found = secret && (await store.tokens.authenticate(secret));
    if (!found) throw new SlipwayError('unauthorized', secret ? 'the token is unknown or revoked' : 'send a token: Authorization: Bearer <token>');
    ctx.state.principal = principalOf(found);
    await next();
  };
}
