// The apps list (state, current release, last deploy) and creating an app, after which its page
// shows the git remote to push to.
import type Router from '@koa/router';
import { ApiError } from '../api.ts';
import type { DashboardDeps } from '../app.ts';
import type { WebState } from '../http.ts';
import { appState, can, deploymentState, type Process } from '../present.ts';

interface App { name: string; createdAt: string }
interface List<T> { items: T[]; next: string | null }

export function appsRoutes(router: Router<WebState>, { pages }: DashboardDeps): void {
  router.get('/', async (ctx) => {
    const api = ctx.state.api!;
    const s = ctx.state.session!;
    const apps = await api.get<List<App>>('/apps', { limit: 200 });
    const rows = await Promise.all(apps.items.map(async (a) => {
      // A 404 here: the app was deleted since the list was read; it is left out.
      const [ps, rel, dep] = await Promise.all([
        api.maybe<List<Process>>(`/apps/${a.name}/processes`),
        api.maybe<List<{ version: number; createdAt: string }>>(`/apps/${a.name}/releases`, { limit: 1 }),
        api.maybe<List<{ state: string; kind: string; createdAt: string; finishedAt: string | null }>>(`/apps/${a.name}/deployments`, { limit: 1 }),
      ]);
      if (!ps || !rel || !dep) return [];
      const release = rel.items[0];
      const deploy = dep.items[0];
      const processes = ps.items;
      return [{
        name: a.name,
        state: appState(processes, !!release, deploy?.state),
        running: processes.filter((p) => p.state === 'running').length,
        total: processes.length,
        release: release ? `v${release.version}` : null,
        deploy: deploy ? { ...deploy, state: deploymentState(deploy.state) } : null,
      }];
    }));
    await pages.render(ctx, 'apps', 'Apps', {
      apps: rows.flat(),
      more: apps.next !== null,
      // POST /v1/apps wants an owner (or admin) token that reaches every app.
      canCreate: can(s.tokenRole, 'owner') && s.tokenApp === null,
      nav: 'apps',
    });
  });

  router.get('/apps/new', async (ctx) => {
    await pages.render(ctx, 'new-app', 'New app', { nav: 'apps' });
  });

  router.post('/apps', async (ctx) => {
    const name = (ctx.state.form?.name ?? '').trim().toLowerCase();
    try {
      const app = await ctx.state.api!.send<App>('POST', '/apps', name ? { name } : {});
      await pages.back(ctx, `/apps/${app.name}`, { kind: 'ok', text: `Created ${app.name}. Push to it with git: the remote is below.` });
    } catch (err) {
      if (!(err instanceof ApiError) || (err.status !== 422 && err.status !== 409)) throw err;
      const message = err.status === 409 ? `The name ${name} is taken; choose another.` : 'App names are 3–30 characters: a lowercase letter first, then lowercase letters, digits or dashes.';
      await pages.render(ctx, 'new-app', 'New app', { nav: 'apps', error: message, name }, err.status);
    }
  });
}
