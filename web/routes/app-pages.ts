// The pages of one app: overview (processes with sparklines, scale controls, deploy with git,
// latest releases and rollout), releases, deployments (and each one's log, builds and theirs),
// config vars (hidden until revealed), domains and live logs. Reads only; forms post to
// app-actions.ts. Controls show only for roles the API would accept (it checks anyway).
import type Router from '@koa/router';
import { ApiError } from '../api.ts';
import type { DashboardDeps } from '../app.ts';
import { loadApp, tabs } from '../app-data.ts';
import { PageError, type WebCtx, type WebState } from '../http.ts';
import type { LogLine } from '../../layer1/logs/types.ts';
import { appState, currentVersion, deploymentState, traffic, logLine, metricsByProcess, processState, releaseState, type Process } from '../present.ts';

interface List<T> { items: T[]; next: string | null }
interface Release { version: number; status: string; reason: string; createdBy: string; createdAt: string; image: string | null; build: { commit: string } | null; failure?: { check: string; message: string } }
interface Deployment { id: string; kind: string; from: number | null; to: number | null; state: string; reason: string; createdBy: string; createdAt: string; startedAt: string | null; finishedAt: string | null; failure: { check: string; type: string | null; message: string; output: string[] } | null; log: string[] }
type Formation = Record<string, { count: number; memory: string; cpu: number }>;

const LOG_FILTERS = ['type', 'process', 'release', 'stream', 'source'] as const;

/** The log filters of a request's query (the logs page's form), those that look like values. */
export function logFilters(ctx: WebCtx): Record<string, string> {
  const filters: Record<string, string> = {};
  for (const k of LOG_FILTERS) {
    const v = ctx.query[k];
    if (typeof v === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(v)) filters[k] = v;
  }
  return filters;
}

/** The processes table's data, with CPU and memory samples once the platform has some. */
async function processesView(ctx: WebCtx, name: string) {
  const api = ctx.state.api!;
  const [ps, metrics] = await Promise.all([
    api.get<List<Process>>(`/apps/${name}/processes`),
    api.get(`/apps/${name}/metrics`),
  ]);
  const byId = metricsByProcess(metrics);
  const counts = new Map<string, number>();
  const processes = ps.items.map((p) => {
    const n = (counts.get(p.type) ?? 0) + 1;
    counts.set(p.type, n);
    const m = byId.get(p.id) ?? [...byId.entries()].find(([id]) => id.startsWith(p.id) || p.id.startsWith(id))?.[1];
    return { ...p, name: `${p.type}.${n}`, status: processState(p), running: p.state === 'running', cpu: m?.cpu ?? [], memory: m?.memory ?? [] };
  });
  const running = processes.filter((p) => p.state === 'running').length;
  return { processes, running, total: processes.length, hasMetrics: byId.size > 0, traffic: traffic(metrics) };
}

export function appPageRoutes(router: Router<WebState>, { pages }: DashboardDeps): void {
  router.get('/apps/:app', async (ctx) => {
    const app = await loadApp(ctx);
    const api = ctx.state.api!;
    const [procs, formation, releases, deployments] = await Promise.all([
      processesView(ctx, app.name),
      api.get<Formation>(`/apps/${app.name}/formation`),
      api.get<List<Release>>(`/apps/${app.name}/releases`, { limit: 3 }),
      api.get<List<Deployment>>(`/apps/${app.name}/deployments`, { limit: 1 }),
    ]);
    const current = currentVersion(releases.items);
    const rels = releases.items.map((r) => ({ ...r, status: releaseState(r.status, r.version === current) }));
    const latest = deployments.items[0];
    const types = Object.entries(formation).map(([type, f]) => ({ type, ...f }));
    await pages.render(ctx, 'app', app.name, {
      app, tabs: tabs(app.name, 'overview'), ...procs,
      state: appState(procs.processes, rels.length > 0, latest?.state),
      formation: types,
      releases: rels,
      deployment: latest ? { ...latest, state: deploymentState(latest.state) } : null,
      remote: `${ctx.protocol}://git:<token>@${ctx.host}/git/${app.name}.git`,
      live: `/apps/${app.name}/live/events`,
    });
  });

  router.get('/apps/:app/releases', async (ctx) => {
    const app = await loadApp(ctx);
    const after = typeof ctx.query.after === 'string' && /^\d{1,9}$/.test(ctx.query.after) ? ctx.query.after : undefined;
    const list = await ctx.state.api!.get<List<Release>>(`/apps/${app.name}/releases`, { limit: 25, after });
    // The newest deployed release is current; on a later page, the first page says which.
    const current = currentVersion(after ? (await ctx.state.api!.get<List<Release>>(`/apps/${app.name}/releases`, { limit: 25 })).items : list.items) ?? currentVersion(list.items);
    const releases = list.items.map((r) => ({
      ...r, status: releaseState(r.status, r.version === current), current: r.version === current,
      // Back to an earlier release that ran (not the current one, a newer one rolling out, or a failed one).
      canRollback: app.canDeploy && current !== undefined && r.version < current && r.image !== null && r.status !== 'failed',
      source: r.build ? `commit ${r.build.commit.slice(0, 7)}` : r.image ?? 'config only',
    }));
    await pages.render(ctx, 'releases', `Releases · ${app.name}`, { app, tabs: tabs(app.name, 'releases'), releases, next: list.next, live: `/apps/${app.name}/live/events` });
  });

  router.get('/apps/:app/deployments', async (ctx) => {
    const app = await loadApp(ctx);
    const api = ctx.state.api!;
    const after = typeof ctx.query.after === 'string' && /^\d{1,12}$/.test(ctx.query.after) ? ctx.query.after : undefined;
    const [list, builds] = await Promise.all([
      api.get<List<Deployment>>(`/apps/${app.name}/deployments`, { limit: 25, after }),
      api.get<List<{ id: string; state?: string; status?: string; commit?: string; createdAt?: string }>>(`/apps/${app.name}/builds`, { limit: 10 }),
    ]);
    const deployments = list.items.map((d) => ({ ...d, state: deploymentState(d.state) }));
    const bs = builds.items.map((b) => ({ ...b, state: deploymentState(b.state ?? b.status ?? 'unknown') }));
    await pages.render(ctx, 'deployments', `Deployments · ${app.name}`, { app, tabs: tabs(app.name, 'deployments'), deployments, builds: bs, next: list.next, live: `/apps/${app.name}/live/events` });
  });

  router.get('/apps/:app/deployments/:id', async (ctx) => {
    const app = await loadApp(ctx);
    if (!/^\d{1,12}$/.test(ctx.params.id ?? '')) throw new PageError(404, 'Not found', 'There is no deployment with that id.');
    const d = await ctx.state.api!.get<Deployment>(`/apps/${app.name}/deployments/${ctx.params.id}`);
    await pages.render(ctx, 'deployment', `Deployment ${d.id} · ${app.name}`, { app, tabs: tabs(app.name, 'deployments'), d: { ...d, state: deploymentState(d.state) } });
  });

  router.get('/apps/:app/builds/:id', async (ctx) => {
    const app = await loadApp(ctx);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(ctx.params.id ?? '')) throw new PageError(404, 'Not found', 'There is no build with that id.');
    const b = await ctx.state.api!.get<{ id: string; state?: string; commit?: string; log: string[] }>(`/apps/${app.name}/builds/${ctx.params.id}`);
    await pages.render(ctx, 'build', `Build · ${app.name}`, { app, tabs: tabs(app.name, 'deployments'), b: { ...b, state: deploymentState(b.state ?? 'unknown') } });
  });

  router.get('/apps/:app/config', async (ctx) => {
    const app = await loadApp(ctx);
    const config = await ctx.state.api!.get<Record<string, string>>(`/apps/${app.name}/config`);
    const reveal = typeof ctx.query.reveal === 'string' ? ctx.query.reveal : '';
    const vars = Object.keys(config).sort().map((name) => ({ name, revealed: name === reveal || reveal === '*', value: name === reveal || reveal === '*' ? config[name] : undefined }));
    await pages.render(ctx, 'config', `Config · ${app.name}`, { app, tabs: tabs(app.name, 'config'), vars, allRevealed: reveal === '*' });
  });

  router.get('/apps/:app/domains', async (ctx) => {
    const app = await loadApp(ctx);
    const list = await ctx.state.api!.get<List<{ domain: string; createdAt: string; createdBy: string }>>(`/apps/${app.name}/domains`, { limit: 500 });
    await pages.render(ctx, 'domains', `Domains · ${app.name}`, { app, tabs: tabs(app.name, 'domains'), domains: list.items });
  });

  router.get('/apps/:app/logs', async (ctx) => {
    const app = await loadApp(ctx);
    const filters = logFilters(ctx);
    const [recent, formation] = await Promise.all([
      readLogs(ctx, app.name, filters),
      ctx.state.api!.get<Formation>(`/apps/${app.name}/formation`),
    ]);
    // The live stream goes on after the last line shown here, so none written meanwhile is lost.
    const last = recent.at(-1)?.id;
    const qs = new URLSearchParams({ ...filters, ...(last ? { after: last } : {}) }).toString();
    await pages.render(ctx, 'logs', `Logs · ${app.name}`, {
      app, tabs: tabs(app.name, 'logs'), filters,
      types: Object.keys(formation).map((t) => ({ t, selected: filters.type === t })),
      streams: ['stdout', 'stderr'].map((t) => ({ t, selected: filters.stream === t })),
      sources: [['app', 'app processes'], ['router', 'router (requests)'], ['platform', 'platform (deploys, crashes)']].map(([t, label]) => ({ t, label, selected: filters.source === t })),
      lines: recent,
      follow: `/apps/${app.name}/live/logs${qs ? `?${qs}` : ''}`,
    });
  });
}

/** The last lines (NDJSON from the logs API). */
async function readLogs(ctx: WebCtx, app: string, filters: Record<string, string>) {
  const res = await ctx.state.api!.stream(`/apps/${app}/logs`, { accept: 'application/x-ndjson', query: { tail: '200', ...filters }, signal: AbortSignal.timeout(10_000) });
  let text = '';
  try {
    for await (const c of res) text += c;
  } catch {
    throw new ApiError(504, 'timeout', 'the logs did not arrive in time');
  }
  return text.split('\n').filter(Boolean).flatMap((l) => {
    try {
      return [logLine(JSON.parse(l) as LogLine)];
    } catch {
      return [];
    }
  });
}
