// `docker cp`: stat, read (tar) and write (tar) paths inside a container's root filesystem.
// Paths are resolved inside the root, following symlinks as the container would see them, so
// an absolute link never reaches the host; node-tar refuses to extract through symlinks.
import { lstat, readlink } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import * as tar from 'tar';
import { SlipwayError } from '../common/errors.ts';
import type { PathStat } from './types.ts';

const MAX_LINKS = 40;

/** Resolves `path` inside `root` like a chroot would; the last component is followed only if asked. */
export async function resolveInRoot(root: string, path: string, followLast = false): Promise<string> {
  const parts = posix.normalize(`/${path}`).split('/').filter((p) => p && p !== '.');
  const last = followLast ? undefined : parts.pop();
  let resolved: string[] = [];
  let links = 0;
  const queue = [...parts];
  while (queue.length) {
    const part = queue.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = join(root, ...resolved, part);
    const st = await lstat(host).catch(() => null);
    if (st?.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new SlipwayError('invalid_params', `too many levels of symbolic links: ${path}`);
      const target = await readlink(host);
      if (target.startsWith('/')) resolved = [];
      queue.unshift(...target.split('/').filter((p) => p && p !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return last === undefined || last === '..' ? join(root, ...resolved) : join(root, ...resolved, last);
}

/**
 * Files bind-mounted over the rootfs while the container runs (/etc/hostname, hosts,
 * resolv.conf): container path → host file. `docker cp` must see those, not the image's.
 */
export type Overlays = Map<string, string>;

async function hostPathOf(root: string, path: string, overlays: Overlays): Promise<string> {
  const host = await resolveInRoot(root, path);
  return overlays.get(host.slice(root.length) || '/') ?? host;
}

export async function statInRoot(root: string, path: string, overlays: Overlays = new Map()): Promise<PathStat> {
  const host = await hostPathOf(root, path, overlays);
  const st = await lstat(host).catch(() => null);
  if (!st) throw new SlipwayError('not_found', `Could not find the file ${path} in container`);
  return {
    name: basename(posix.normalize(`/${path}`)) || '/',
    size: st.size,
    mode: st.mode,
    mtime: st.mtime.toISOString(),
    linkTarget: st.isSymbolicLink() ? await readlink(host) : '',
  };
}

export async function tarFromRoot(root: string, path: string, overlays: Overlays = new Map()): Promise<{ stat: PathStat; tar: NodeJS.ReadableStream }> {
  const stat = await statInRoot(root, path, overlays);
  const host = await hostPathOf(root, path, overlays);
  const stream = tar.c({ cwd: dirname(host), portable: false, follow: false }, [basename(host)]);
  return { stat, tar: stream as unknown as NodeJS.ReadableStream };
}

export async function untarIntoRoot(root: string, path: string, input: NodeJS.ReadableStream): Promise<void> {
  const host = await resolveInRoot(root, path, true);
  const st = await lstat(host).catch(() => null);
  if (!st) throw new SlipwayError('not_found', `Could not find the file ${path} in container`);
  if (!st.isDirectory()) throw new SlipwayError('invalid_params', `extraction point is not a directory: ${path}`);
  const problems: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const x = tar.x({
      cwd: host,
      preserveOwner: true,
      strict: true,
      onwarn: (_code, message) => problems.push(String(message)),
    });
    x.on('error', reject);
    x.on('close', resolve);
    x.on('finish', resolve);
    input.on('error', reject);
    input.pipe(x as unknown as NodeJS.WritableStream);
  }).catch((err: Error) => {
    throw new SlipwayError('invalid_params', `bad archive: ${err.message}`);
  });
  if (problems.length) throw new SlipwayError('invalid_params', `bad archive: ${problems[0]}`);
}
