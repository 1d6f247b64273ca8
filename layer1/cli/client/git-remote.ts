// The app of the current directory: the `slipway` git remote's URL is
// `http://git:<token>@host:7000/git/<app>.git`; adding or updating that remote.
import { execFileSync } from 'node:child_process';

export const REMOTE = 'slipway';

function git(args: string[], cwd: string): string | null {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function appFromRemoteUrl(url: string): string | null {
  return /\/git\/([a-z][a-z0-9-]{2,29})\.git\/?$/.exec(url)?.[1] ?? null;
}

export function appFromGitRemote(cwd = process.cwd()): string | null {
  const url = git(['remote', 'get-url', REMOTE], cwd);
  return url ? appFromRemoteUrl(url) : null;
}

export function inGitRepo(cwd = process.cwd()): boolean {
  return git(['rev-parse', '--is-inside-work-tree'], cwd) === 'true';
}

/** Sets the `slipway` remote (adding or replacing it); the URL carries a deploy token for the app. */
export function setGitRemote(url: string, cwd = process.cwd()): void {
  if (git(['remote', 'get-url', REMOTE], cwd) !== null) execFileSync('git', ['remote', 'set-url', REMOTE, url], { cwd });
  else execFileSync('git', ['remote', 'add', REMOTE, url], { cwd });
}

export function remoteUrl(apiUrl: string, app: string, token: string): string {
  const u = new URL(apiUrl);
  u.username = 'git';
  u.password = token;
  u.pathname = `/git/${app}.git`;
  return u.toString();
}
