// /v1/apps/:app/access: who may do what on an app. Viewers see the list; owners grant,
// change and remove roles; an app always keeps one owner. Only an owner (who must name users to
// grant them) learns whether a user name exists: the others get one answer for both (L8).
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { appRoute, type AnyRoute } from '../http/route.ts';
import { Access, AppName, PutAccessBody, UserName, listOf } from '../types.ts';
import type { RouteDeps } from './deps.ts';

const AppParams = z.strictObject({ app: AppName });
const AccessParams = z.strictObject({ app: AppName, user: UserName });

export function accessRoutes({ store }: RouteDeps): AnyRoute[] {
  const userNamed = async (name: string) => {
    const u = await store.users.byName(name);
    if (!u) throw new SlipwayError('not_found', `no user named ${name}`);
    return u;
  };
  return [
    appRoute({
      method: 'get', path: '/apps/:app/access', tag: 'access', summary: "List the app's users and their roles",
      role: 'view', params: AppParams, response: listOf(Access),
      async handler({ app }) {
        const grants = await store.access.list(app.id);
        const names = await store.users.names(Object.keys(grants));
        const items = Object.entries(grants)
          .filter(([id]) => names.has(id))
          .map(([id, role]) => ({ app: app.name, user: names.get(id) as string, role }))
          .sort((a, b) => (a.user < b.user ? -1 : 1));
        return { items, next: null };
      },
    }),
    appRoute({
      method: 'get', path: '/apps/:app/access/:user', tag: 'access', summary: "A user's role on the app",
      role: 'view', params: AccessParams, response: Access, errors: ['not_found'],
      async handler({ app, params }) {
        // One answer for a missing user and a user without access (L8): a viewer of one app
        // must not learn which user names exist on the platform.
        const user = await store.users.byName(params.user);
        const role = user ? await store.access.get(app.id, user.id) : null;
        if (!role) throw new SlipwayError('not_found', `${params.user} has no access to ${app.name}`);
        return { app: app.name, user: params.user, role };
      },
    }),
    appRoute({
      method: 'put', path: '/apps/:app/access/:user', tag: 'access', summary: "Grant or change a user's role on the app",
      role: 'owner', params: AccessParams, body: PutAccessBody, response: Access, errors: ['not_found', 'conflict'],
      async handler({ app, params, body }) {
        await store.access.set(app.id, (await userNamed(params.user)).id, body.role);
        return { app: app.name, user: params.user, role: body.role };
      },
    }),
    appRoute({
      method: 'delete', path: '/apps/:app/access/:user', tag: 'access', summary: "Remove a user's access to the app",
      role: 'owner', params: AccessParams, response: null, status: 204, errors: ['not_found', 'conflict'],
      async handler({ app, params }) {
        if (!(await store.access.remove(app.id, (await userNamed(params.user)).id))) {
          throw new SlipwayError('not_found', `${params.user} has no access to ${app.name}`);
        }
      },
    }),
  ];
}
