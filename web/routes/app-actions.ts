// The forms of an app's pages, each one call of /v1 with the session's token (so the API's
// roles, validation and audit apply), then back to the page with a message. A 403 from the
// API is a 403 page (errors.ts); bad input (422, 409) comes back as the page's message: the
// fields are the API's to check (only the app's name is checked here, before it is in a path).
import type Router from '@koa/router';
import { ApiError } from '../api.ts';
import type { DashboardDeps } from '../app.ts';
import { appName, loadApp, tabs } from '../app-data.ts';
import type { WebCtx, WebState } from '../http.ts';
import { remoteUrl } from '../../layer1/cli/client/git-remote.ts';

export function appActionRoutes(router: Router<WebState>, { pages }: DashboardDeps): void {
  /** Runs one change; a refusal on its input comes back to `back` as an error message. */
  async function act(ctx: WebCtx, back: string, change: () => Promise<string>) {
    let text: string;
    try {
      text = await change();
    } catch (err) {
      if (err instanceof ApiError && [400, 409, 413, 422].includes(err.status)) return pages.back(ctx, back, { kind: 'error', text: err.message });
      throw err;
    }
    await pages.back(ctx, back, { kind: 'ok', text });
  }
  const form = (ctx: WebCtx) => ctx.state.form ?? {};

  router.post('/apps/:app/scale', async (ctx) => {
    const app = appName(ctx);
    const { type = '', count = '' } = form(ctx);
    // An empty field is no number (not 0); the API refuses what is not a whole number from 0 to 100.
    const n = count.trim() === '' ? null : Number(count);
    await act(ctx, `/apps/${app}`, async () => {
      await ctx.state.api!.send('PATCH', `/apps/${app}/formation`, { [type]: n });
      return `Scaling ${type} to ${n}. The processes below follow the rollout.`;
    });
  });

  router.post('/apps/:app/restart', async (ctx) => {
    const app = appName(ctx);
    const type = form(ctx).type || undefined;
    await act(ctx, `/apps/${app}`, async () => {
      await ctx.state.api!.send('POST', `/apps/${app}/processes/restart`, type ? { type } : {});
      return `Restarting ${type ?? 'every'} process${type ? 'es' : ''}, one at a time.`;
    });
  });

  router.post('/apps/:app/config', async (ctx) => {
    const app = appName(ctx);
    const name = (form(ctx).name ?? '').trim();
    const value = form(ctx).value ?? '';
    await act(ctx, `/apps/${app}/config`, async () => {
      const r = await ctx.state.api!.send<{ release: { version: number } | null }>('PATCH', `/apps/${app}/config`, { [name]: value });
      return `Set ${name}${r.release ? `: release v${r.release.version} is rolling out` : ''}.`;
    });
  });

  router.post('/apps/:app/config/unset', async (ctx) => {
    const app = appName(ctx);
    const name = form(ctx).name ?? '';
    await act(ctx, `/apps/${app}/config`, async () => {
      const r = await ctx.state.api!.send<{ release: { version: number } | null }>('PATCH', `/apps/${app}/config`, { [name]: null });
      return `Removed ${name}${r.release ? `: release v${r.release.version} is rolling out` : ''}.`;
    });
  });

  router.post('/apps/:app/rollback', async (ctx) => {
    const app = appName(ctx);
    // Always a version ("7" or "v7"): without one the API would roll back to the previous release.
    const version = form(ctx).version ?? '';
    await act(ctx, `/apps/${app}/releases`, async () => {
      const r = await ctx.state.api!.send<{ release: { version: number } | null }>('POST', `/apps/${app}/rollback`, { version });
      return `Rolling back to v${version.replace(/^v/, '')}${r.release ? ` as release v${r.release.version}` : ''}.`;
    });
  });

  router.post('/apps/:app/domains', async (ctx) => {
    const app = appName(ctx);
    const domain = (form(ctx).domain ?? '').trim().toLowerCase();
    await act(ctx, `/apps/${app}/domains`, async () => {
      await ctx.state.api!.send('POST', `/apps/${app}/domains`, { domain });
      return `Added ${domain}. Point its DNS at this platform's router.`;
    });
  });

  router.post('/apps/:app/domains/remove', async (ctx) => {
    const app = appName(ctx);
    const domain = form(ctx).domain ?? '';
    await act(ctx, `/apps/${app}/domains`, async () => {
      await ctx.state.api!.send('DELETE', `/apps/${app}/domains/${encodeURIComponent(domain)}`);
      return `Removed ${domain}.`;
    });
  });

  // A deploy token for the git remote, made only when asked and shown once, on this answer
  // (never stored in the session, never in a URL).
  router.post('/apps/:app/deploy-token', async (ctx) => {
    const app = await loadApp(ctx);
    const t = await ctx.state.api!.send<{ id: string; token: string }>('POST', '/tokens', { role: 'deploy', app: app.name, description: `git remote (dashboard, ${ctx.state.session!.user})` });
    const remote = remoteUrl(`${ctx.protocol}://${ctx.host}`, app.name, t.token);
    await pages.render(ctx, 'deploy-token', `Git remote · ${app.name}`, { app, tabs: tabs(app.name, 'overview'), remote, tokenId: t.id }, 201);
  });

  router.post('/apps/:app/delete', async (ctx) => {
    const app = appName(ctx);
    if (form(ctx).confirm !== app) return pages.back(ctx, `/apps/${app}`, { kind: 'error', text: `Type the app's name, ${app}, to destroy it.` });
    await ctx.state.api!.send('DELETE', `/apps/${app}`);
    await pages.back(ctx, '/', { kind: 'ok', text: `Destroyed ${app}: its processes, releases and domains are gone.` });
  });
}
