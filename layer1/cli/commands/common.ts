// What every API command shares: `--json` and `-a/--app` on each, the client from the CLI
// config, the app from the flag or the git remote, and one error path with a clear message.
import type { Command } from 'commander';
import { createApiClient, CliError, type ApiClient } from '../client/api.ts';
import { loadConfig } from '../client/config.ts';
import { appFromGitRemote } from '../client/git-remote.ts';
import { fail } from '../client/output.ts';

export interface CommonOpts {
  json?: boolean;
  app?: string;
}

export function withCommon(cmd: Command): Command {
  return cmd.option('--json', 'print JSON (for scripts)').option('-a, --app <app>', 'the app (default: from the `slipway` git remote)');
}

export function api(): ApiClient {
  return createApiClient(loadConfig());
}

export function appOf(opts: CommonOpts): string {
  const app = opts.app ?? appFromGitRemote();
  if (!app) throw new CliError('no app: pass -a APP, or run this inside a git repo with a `slipway` remote');
  return app;
}

export const enc = encodeURIComponent;

/** Runs a command body; a CliError (or anything) becomes a message on stderr and exit 1. */
export function run<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err));
      process.exit(err instanceof CliError ? err.exitCode : 1);
    }
  };
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
