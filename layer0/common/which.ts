// Finds OS programs when they are first used, never at import: `slipway up` installs missing
// Debian packages in the same process before it starts anything (issue 12), so a lookup made
// earlier, or a failure remembered, would outlive the install. Only successes are cached.
// The sbin directories are always searched: a non-login root shell or a minimal service PATH
// may leave them out, and runc, iptables and ip live there on some hosts.
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** PATH with the sbin directories appended when missing (for children that look programs up by name). */
export function pathWithSbin(path: string | undefined = process.env.PATH): string {
  const dirs = (path ?? '').split(delimiter).filter(Boolean);
  for (const d of [...SBIN_DIRS, '/usr/local/bin', '/usr/bin', '/bin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(delimiter);
}

/** The absolute path of `name` on PATH plus the sbin directories, or null. No caching. */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (isAbsolute(name)) return name;
  for (const dir of pathWithSbin(env.PATH).split(delimiter)) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

const found = new Map<string, string>();

/**
 * The program to run for `name`: its absolute path once found (then cached), else `name` itself,
 * so the spawn fails with ENOENT and the next call looks again. `override` is an operator's
 * env setting such as SLIPWAY_RUNC, read at call time.
 */
export function binary(name: string, override?: string): string {
  const want = override || name;
  const hit = found.get(want);
  if (hit) return hit;
  const path = which(want);
  if (!path) return want;
  found.set(want, path);
  return path;
}
