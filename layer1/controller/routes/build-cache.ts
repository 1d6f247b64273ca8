// DELETE /v1/apps/:app/build-cache (`slipway builds:cache:purge`): empties the app's build cache
// on this host, so its next build starts cold. Audited like every mutating call.
import { purgeBuildCache } from '../../builder/index.ts';
import { appRoute, type AnyRoute } from '../http/route.ts';
import { AppParams } from './apps.ts';

export function buildCacheRoutes(home: string): AnyRoute[] {
  return [
    appRoute({
      method: 'delete', path: '/apps/:app/build-cache', tag: 'builds', summary: "Empty the app's build cache (the next build starts cold)",
      role: 'deploy', params: AppParams, response: null, status: 204,
      async handler({ app }) {
        await purgeBuildCache(home, app.id);
      },
    }),
  ];
}
