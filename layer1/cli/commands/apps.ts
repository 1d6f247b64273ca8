// apps, apps:create (adds the `slipway` git remote with a deploy token), apps:info,
// apps:rename, apps:destroy --confirm.
import type { Command } from 'commander';
import { CliError } from '../client/api.ts';
import { appFromGitRemote, inGitRepo, REMOTE, remoteUrl, setGitRemote } from '../client/git-remote.ts';
import { color, ok, printJson, printKeyValues, printTable } from '../client/output.ts';
import { ago, api, appOf, enc, run, withCommon, type CommonOpts } from './common.ts';
import { execFileSync } from 'node:child_process';

interface App {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
}

export function registerApps(program: Command): void {
  withCommon(program.command('apps').description('list the apps you can see'))
    .action(run(async (opts: CommonOpts) => {
      const apps = await api().list<App>('/apps');
      if (opts.json) return printJson(apps);
      if (!apps.length) return void process.stdout.write('no apps yet: slipway apps:create\n');
      printTable(['NAME', 'CREATED', 'BY'], apps.map((a) => [color.bold(a.name), ago(a.createdAt), a.createdBy]));
    }));

  withCommon(program.command('apps:create').argument('[name]', 'the name (random and readable when absent)').description('create an app; inside a git repo, add the `slipway` remote'))
    .option('--no-remote', 'do not add or update the git remote')
    .action(run(async (name: string | undefined, opts: CommonOpts & { remote?: boolean }) => {
      const client = api();
      const app = await client.request<App>('POST', '/apps', name ? { name } : {});
      let remote: string | null = null;
      if (opts.remote !== false && inGitRepo()) {
        const t = await client.request<{ token: string }>('POST', '/tokens', { role: 'deploy', app: app.name, description: `git remote of ${process.cwd()}` });
        setGitRemote(remoteUrl(client.url, app.name, t.token));
        remote = REMOTE;
      }
      if (opts.json) return printJson({ ...app, gitRemote: remote });
      ok(`created ${color.bold(app.name)}`);
      if (remote) process.stdout.write(`  git remote ${color.cyan(REMOTE)} added: ${color.dim(`git push ${REMOTE} main`)}\n`);
    }));

  withCommon(program.command('apps:info').description('show an app'))
    .action(run(async (opts: CommonOpts) => {
      const app = await api().get<App>(`/apps/${enc(appOf(opts))}`);
      if (opts.json) return printJson(app);
      printKeyValues([['name', color.bold(app.name)], ['id', app.id], ['created', `${app.createdAt} (${ago(app.createdAt)}) by ${app.createdBy}`], ['updated', app.updatedAt]]);
    }));

  withCommon(program.command('apps:rename').argument('<newname>').description('rename an app (the git remote follows)'))
    .action(run(async (newName: string, opts: CommonOpts) => {
      const old = appOf(opts);
      const app = await api().request<App>('PATCH', `/apps/${enc(old)}`, { name: newName });
      if (appFromGitRemote() === old) {
        const url = execFileSync('git', ['remote', 'get-url', REMOTE], { encoding: 'utf8' }).trim();
        setGitRemote(url.replace(`/git/${old}.git`, `/git/${newName}.git`));
      }
      if (opts.json) return printJson(app);
      ok(`renamed ${old} → ${color.bold(app.name)}`);
    }));

  withCommon(program.command('apps:destroy').argument('[name]').description('destroy an app and everything it has').option('--confirm <name>', 'the app\'s name again, to be sure'))
    .action(run(async (name: string | undefined, opts: CommonOpts & { confirm?: string }) => {
      const app = name ?? appOf(opts);
      if (opts.confirm !== app) throw new CliError(`this destroys ${app} and everything it has; to proceed, pass --confirm ${app}`);
      await api().request('DELETE', `/apps/${enc(app)}`);
      if (appFromGitRemote() === app) execFileSync('git', ['remote', 'remove', REMOTE]);
      if (opts.json) return printJson({ destroyed: app });
      ok(`destroyed ${color.bold(app)}`);
    }));
}
