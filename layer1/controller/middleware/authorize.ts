// The role matrix at the edge: platform routes need a platform-wide role; app routes resolve
// `:app` and need a role on it. Apps the caller may not see answer 404, never 403.
import type { Middleware } from 'koa';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { appRole, atLeast, globalRole, type Principal } from '../auth/roles.ts';
import type { Store } from '../store/index.ts';
import type { AnyRoute, ControllerState } from '../http/route.ts';

export function authorize(route: AnyRoute, store: Store): Middleware<ControllerState> {
  const access = route.access;
  if (access.kind === 'public') return (_ctx, next) => next();
  return async (ctx, next) => {
    const p = ctx.state.principal as Principal;
    if (access.kind === 'user') {
      if (access.unscoped && p.tokenAppId !== null) throw new SlipwayError('forbidden', 'this token is limited to one app; this needs a token for all apps');
      const role = globalRole(p);
      if (!atLeast(role, access.role)) throw new SlipwayError('forbidden', `this needs the ${access.role} role; the token has ${role}`);
    } else {
      const name = (ctx.state.input?.params as { app: string }).app;
      const found = await store.apps.resolve(name, p.userId);
      const role = found && appRole(p, found.app.id, found.grant);
      if (!found || !role) throw new SlipwayError('app_not_found', `no app named ${name}`);
      if (!atLeast(role, access.role)) throw new SlipwayError('forbidden', `this needs the ${access.role} role on ${name}; you have ${role}`);
      ctx.state.app = found.app;
      ctx.state.grant = found.grant;
      ctx.state.appRole = role;
    }
    await next();
  };
}
