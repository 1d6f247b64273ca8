// /v1/apps: list the apps the caller may see, create (the creator becomes owner; a random
// readable name when none is given), show, rename (the id stays) and delete.
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { route, appRoute, type AnyRoute } from '../http/route.ts';
import { randomAppName } from '../names.ts';
import { App, AppName, CreateAppBody, Page, PatchAppBody, listOf } from '../types.ts';
import type { RouteDeps } from './deps.ts';
import { z } from 'zod';

export const AppParams = z.strictObject({ app: AppName });

export function appRoutes({ store, limits, onAppCreated, onAppDeleted, onAppRenamed }: RouteDeps): AnyRoute[] {
  return [
    route({
      method: 'get', path: '/apps', tag: 'apps', summary: 'List the apps the caller may see, by name',
      access: { kind: 'user', role: 'view' }, query: Page, response: listOf(App),
      async handler({ principal: p, query }) {
        if (p.tokenAppId !== null) {
          const visible = p.admin || (await store.access.get(p.tokenAppId, p.userId)) !== null;
          return store.apps.listSome(visible ? [p.tokenAppId] : [], query.limit, query.after);
        }
        if (p.admin) return store.apps.listAll(query.limit, query.after);
        return store.apps.listSome(Object.keys(await store.users.grants(p.userId)), query.limit, query.after);
      },
    }),
    route({
      method: 'post', path: '/apps', tag: 'apps', summary: 'Create an app; the caller becomes its owner',
      access: { kind: 'user', role: 'owner', unscoped: true }, body: CreateAppBody, response: App, status: 201, errors: ['conflict', 'too_many_requests'],
      async handler({ principal: p, body }) {
        const creator = { id: p.userId, name: p.userName };
        if (!p.admin) {
          // Grants of deleted apps may linger: only apps that exist count.
          const ids = Object.entries(await store.users.grants(p.userId)).filter(([, r]) => r === 'owner').map(([id]) => id);
          const owned = (await Promise.all(ids.map((id) => store.apps.get(id)))).filter((a) => a !== null).length;
          if (owned >= limits.appsPerOwner) {
            throw new SlipwayError('too_many_requests', `you own ${owned} apps, the most this platform allows (its SLIPWAY_MAX_APPS_PER_OWNER is ${limits.appsPerOwner}); delete one first`);
          }
        }
        const create = async () => {
          if (body.name) return store.apps.create(body.name, creator);
          for (let i = 0; ; i++) {
            try {
              return await store.apps.create(randomAppName(), creator);
            } catch (err) {
              if (i >= 9 || !(err instanceof SlipwayError && err.code === 'conflict')) throw err;
            }
          }
        };
        const app = await create();
        await onAppCreated?.(app);
        return app;
      },
    }),
    appRoute({
      method: 'get', path: '/apps/:app', tag: 'apps', summary: 'Show an app',
      role: 'view', params: AppParams, response: App,
      handler: async ({ app }) => app,
    }),
    appRoute({
      method: 'patch', path: '/apps/:app', tag: 'apps', summary: 'Rename an app (its id, access and tokens stay)',
      role: 'owner', params: AppParams, body: PatchAppBody, response: App, errors: ['conflict'],
      async handler({ app, body }) {
        if (!body.name || body.name === app.name) return app;
        const renamed = await store.apps.rename(app, body.name);
        await onAppRenamed(renamed, app.name);
        return renamed;
      },
    }),
    appRoute({
      method: 'delete', path: '/apps/:app', tag: 'apps', summary: 'Delete an app: its processes, records and tokens; the name is free again',
      role: 'owner', params: AppParams, response: null, status: 204,
      async handler({ app }) {
        await onAppDeleted(app);
        await store.apps.delete(app);
      },
    }),
  ];
}
