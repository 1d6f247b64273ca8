// `Authorization: Bearer <token>` → the caller (user + token), read from Redis on every
// request so a revoked token fails at once. Public routes skip it; anything else is 401, and a
// token that was sent but refused goes into the audit log.
import type { Middleware } from 'koa';
import type { Logger } from '../../../layer0/common/logger.ts';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { principalOf } from '../auth/roles.ts';
import { bearer } from '../auth/token.ts';
import type { Store } from '../store/index.ts';
import type { AnyRoute, ControllerState } from '../http/route.ts';

export function authenticate(route: AnyRoute, store: Store, log?: Logger): Middleware<ControllerState> {
  if (route.access.kind === 'public') return (_ctx, next) => next();
  return async (ctx, next) => {
    const header = ctx.get('Authorization');
    const secret = bearer(header);
    const found = secret && (await store.tokens.authenticate(secret));
    if (!found && header) {
      // A refused token is a failed login (L4): recorded, without the token, whatever the route.
      await store.audit
        .append({ event: 'auth_failed', user: '', tokenId: '', method: ctx.method, route: `/v1${route.path}`, path: ctx.path, app: null, status: 401, requestId: ctx.state.requestId })
        .catch((err: Error) => log?.error({ reqId: ctx.state.requestId, err: err.message }, 'audit append failed'));
    }
    if (!found) throw new SlipwayError('unauthorized', secret ? 'the token is unknown or revoked' : 'send a token: Authorization: Bearer <token>');
    ctx.state.principal = principalOf(found);
    await next();
  };
}
