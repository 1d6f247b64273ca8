// What every page of one app needs: the app (its name checked before it reaches an API path),
// the caller's effective role on it (to hide controls the API would refuse anyway), its URL,
// and the tabs. Loaded through the session's token, so a hidden app is a 404 here too.
import { APP_NAME_RE, type AppRole } from '../layer1/controller/types.ts';
import type { Role } from '../layer1/controller/auth/roles.ts';
import { PageError, type WebCtx } from './http.ts';
import { can, effectiveRole } from './present.ts';

export interface AppView {
  name: string;
  createdAt: string;
  createdBy: string;
  role: Role;
  canDeploy: boolean;
  canOwn: boolean;
  url: string;
}

const TABS = [
  ['overview', 'Overview', ''],
  ['releases', 'Releases', '/releases'],
  ['deployments', 'Deployments', '/deployments'],
  ['config', 'Config', '/config'],
  ['domains', 'Domains', '/domains'],
  ['logs', 'Logs', '/logs'],
] as const;

export function appName(ctx: WebCtx): string {
  const name = (ctx.params as Record<string, string> | undefined)?.app ?? '';
  if (!APP_NAME_RE.test(name)) throw new PageError(404, 'Not found', 'There is no app by that name.');
  return name;
}

export async function loadApp(ctx: WebCtx): Promise<AppView> {
  const name = appName(ctx);
  const s = ctx.state.session!;
  const api = ctx.state.api!;
  const [app, grant, settings] = await Promise.all([
    api.get<{ name: string; createdAt: string; createdBy: string }>(`/apps/${name}`),
    // No grant (404): the app is hidden from the user too, and its own lookup answers 404.
    s.admin ? Promise.resolve(null) : api.maybe<{ role: AppRole }>(`/apps/${name}/access/${encodeURIComponent(s.user)}`),
    api.get<{ url: string }>(`/apps/${name}/settings`),
  ]);
  const role = effectiveRole(s, grant?.role ?? null) ?? 'view';
  return { name: app.name, createdAt: app.createdAt, createdBy: app.createdBy, role, canDeploy: can(role, 'deploy'), canOwn: can(role, 'owner'), url: settings.url };
}

export function tabs(app: string, current: string) {
  return TABS.map(([id, label, path]) => ({ id, label, href: `/apps/${app}${path}`, current: id === current }));
}
