// Who may do what: access, access:add, access:remove (per app), users, users:create (admin),
// tokens, tokens:create, tokens:revoke, and the audit log.
import type { Command } from 'commander';
import { color, ok, printJson, printTable } from '../client/output.ts';
import { ago, api, appOf, enc, run, withCommon, type CommonOpts } from './common.ts';

interface Access { app: string; user: string; role: string }
interface User { id: string; name: string; admin: boolean; createdAt: string }
interface Token { id: string; user: string; role: string; app: string | null; description: string; createdAt: string; lastUsedAt: string | null }
interface AuditEntry { id: string; at: string; user: string; method: string; path: string; app: string | null; status: number; requestId: string }

const ROLES = 'view, deploy or owner';

export function registerAccess(program: Command): void {
  withCommon(program.command('access').description('who has access to an app'))
    .action(run(async (opts: CommonOpts) => {
      const list = (await api().get<{ items: Access[] }>(`/apps/${enc(appOf(opts))}/access`)).items; // one page: not paged
      if (opts.json) return printJson(list);
      printTable(['USER', 'ROLE'], list.map((a) => [a.user, a.role]));
    }));
  withCommon(program.command('access:add').argument('<user>').description('give a user a role on an app'))
    .requiredOption('--role <role>', ROLES)
    .action(run(async (user: string, opts: CommonOpts & { role: string }) => {
      const app = appOf(opts);
      const a = await api().request<Access>('PUT', `/apps/${enc(app)}/access/${enc(user)}`, { role: opts.role });
      if (opts.json) return printJson(a);
      ok(`${color.bold(user)} is ${a.role} on ${app}`);
    }));
  withCommon(program.command('access:remove').argument('<user>').description('take a user\'s access to an app away'))
    .action(run(async (user: string, opts: CommonOpts) => {
      const app = appOf(opts);
      await api().request('DELETE', `/apps/${enc(app)}/access/${enc(user)}`);
      if (opts.json) return printJson({ removed: user, app });
      ok(`${user} no longer has access to ${app}`);
    }));

  withCommon(program.command('users').description('list users (admin)'))
    .action(run(async (opts: CommonOpts) => {
      const users = await api().list<User>('/users');
      if (opts.json) return printJson(users);
      printTable(['NAME', 'ADMIN', 'CREATED'], users.map((u) => [u.name, u.admin ? 'yes' : '', ago(u.createdAt)]));
    }));
  withCommon(program.command('users:create').argument('<name>').description('create a user (admin); give them a token with tokens:create --user'))
    .option('--admin', 'an administrator')
    .action(run(async (name: string, opts: CommonOpts & { admin?: boolean }) => {
      const u = await api().request<User>('POST', '/users', { name, admin: opts.admin === true });
      if (opts.json) return printJson(u);
      ok(`created user ${color.bold(u.name)}${u.admin ? ' (admin)' : ''}`);
    }));

  withCommon(program.command('tokens').description('list your tokens (an admin sees everyone\'s)'))
    .action(run(async (opts: CommonOpts) => {
      const tokens = await api().list<Token>('/tokens');
      if (opts.json) return printJson(tokens);
      printTable(['ID', 'USER', 'ROLE', 'APP', 'LAST USED', 'DESCRIPTION'], tokens.map((t) => [t.id, t.user, t.role, t.app ?? '(all)', ago(t.lastUsedAt), t.description]));
    }));
  withCommon(program.command('tokens:create').description('create a token; its secret is shown once'))
    .option('--role <role>', `${ROLES}, or admin`, 'view')
    .option('--user <user>', 'for another user (admin)')
    .option('--description <text>', 'what it is for')
    .action(run(async (opts: CommonOpts & { role: string; user?: string; description?: string }) => {
      const body: Record<string, string> = { role: opts.role };
      if (opts.app) body.app = opts.app;
      if (opts.user) body.user = opts.user;
      if (opts.description) body.description = opts.description;
      const t = await api().request<Token & { token: string }>('POST', '/tokens', body);
      if (opts.json) return printJson({ token: t.token, id: t.id, role: t.role, app: t.app, user: t.user });
      ok(`token ${t.id} (${t.role}, ${t.app ?? 'all apps'}) for ${t.user} — shown only now:`);
      process.stdout.write(`${t.token}\n`);
    }));
  withCommon(program.command('tokens:revoke').argument('<id>').description('revoke a token, effective at once'))
    .action(run(async (id: string, opts: CommonOpts) => {
      await api().request('DELETE', `/tokens/${enc(id)}`);
      if (opts.json) return printJson({ revoked: id });
      ok(`revoked ${id}`);
    }));

  withCommon(program.command('audit').description('the audit log of changes, newest first (admin)'))
    .option('--limit <n>', 'how many entries', '50')
    .action(run(async (opts: CommonOpts & { limit: string }) => {
      const page = await api().get<{ items: AuditEntry[] }>('/audit', { limit: opts.limit, app: opts.app });
      if (opts.json) return printJson(page.items);
      printTable(['WHEN', 'USER', 'CALL', 'APP', 'STATUS'], page.items.map((e) => [ago(e.at), e.user, `${e.method} ${e.path}`, e.app ?? '', e.status >= 400 ? color.red(String(e.status)) : String(e.status)]));
    }));
}
