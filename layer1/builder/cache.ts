// The apps' build caches on the builder's host: `$SLIPWAY_HOME/cache/builds/<appId>`, bound
// read-write (nosuid, nodev, as every bind) at /tmp/cache in every build of the app.
// `builds:cache:purge` empties one. The cache is written by the app's build (uid 10001), so the
// host never keeps what would matter outside it: setuid/setgid bits are cleared and anything not
// owned by the app (caches of builds that ran as root) is given to it, before and after each build.
import { execFile } from 'node:child_process';
import { chown, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppRefSchema } from './types.ts';

const execFileP = promisify(execFile);

export function buildCacheDir(home: string, appId: string): string {
  AppRefSchema.shape.id.parse(appId);
  return join(home, 'cache', 'builds', appId);
}

/** Removes the app's cache (the next build starts cold). A build running meanwhile keeps what it has open. */
export async function purgeBuildCache(home: string, appId: string): Promise<void> {
  await rm(buildCacheDir(home, appId), { recursive: true, force: true });
}

/**
 * Makes the cache dir (0700, owned by `uid`) and sanitizes what is in it: no setuid/setgid bits,
 * every entry owned by `uid:uid`. Runs only while no build of the app runs (one at a time per
 * app), with find's defaults: symlinks are never followed (`chown -h`, `-type f` for chmod).
 */
export async function prepareBuildCache(dir: string, uid: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chown(dir, uid, uid).catch(() => undefined);
  await execFileP('find', [dir, '-xdev', '-mindepth', '1',
    '(', '-type', 'f', '-perm', '/6000', '-exec', 'chmod', 'ug-s', '{}', '+', ')', ',',
    '(', '(', '!', '-uid', String(uid), '-o', '!', '-gid', String(uid), ')', '-exec', 'chown', '-h', `${uid}:${uid}`, '{}', '+', ')',
  ], { maxBuffer: 1 << 20, timeout: 120_000 }).catch(() => undefined);
}
