// login, logout, whoami: a token saved for this user (0600), checked against the platform.
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { CliError, createApiClient } from '../client/api.ts';
import { DEFAULT_URL, forgetConfig, loadConfig, saveConfig } from '../client/config.ts';
import { color, ok, printJson, printKeyValues } from '../client/output.ts';
import { api, run, withCommon, type CommonOpts } from './common.ts';

interface WhoAmI {
  user: { name: string; admin: boolean };
  token: { id: string; role: string; app: string | null; description: string };
}

async function readToken(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Token: ');
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line.trim();
  }
  return '';
}

export function registerAuth(program: Command): void {
  withCommon(program.command('login').description('save a token for this user (in ~/.config/slipway/config.json, mode 0600)'))
    .option('--url <url>', `the platform (default SLIPWAY_URL or ${DEFAULT_URL})`)
    .option('--token <token>', 'the token (default: read from stdin)')
    .action(run(async (opts: CommonOpts & { url?: string; token?: string }) => {
      const url = (opts.url ?? loadConfig().url).replace(/\/+$/, '');
      const token = opts.token ?? (await readToken());
      if (!token) throw new CliError('no token given');
      const me = await createApiClient({ url, token, source: 'config' }).get<WhoAmI>('/whoami');
      const file = saveConfig({ url, token });
      if (opts.json) return printJson({ url, user: me.user.name, config: file });
      ok(`logged in to ${color.bold(url)} as ${color.bold(me.user.name)}`);
    }));

  withCommon(program.command('logout').description('forget the saved token'))
    .action(run(async (opts: CommonOpts) => {
      const forgot = forgetConfig();
      if (opts.json) return printJson({ loggedOut: forgot });
      ok(forgot ? 'logged out' : 'no saved login');
    }));

  withCommon(program.command('whoami').description('who the current token belongs to, and what it may do'))
    .action(run(async (opts: CommonOpts) => {
      const cfg = loadConfig();
      const me = await api().get<WhoAmI>('/whoami');
      if (opts.json) return printJson({ ...me, url: cfg.url, source: cfg.source });
      printKeyValues([
        ['user', `${me.user.name}${me.user.admin ? ' (admin)' : ''}`],
        ['token', `${me.token.id} · role ${me.token.role} · ${me.token.app ? `app ${me.token.app}` : 'all apps'}`],
        ['platform', cfg.url],
        ['from', cfg.source],
      ]);
    }));
}
