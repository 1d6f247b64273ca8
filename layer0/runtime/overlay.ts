// A container's root filesystem: overlayfs of the image's layers (read-only, shared) with a
// private writable upper dir. Mounted while the container runs or its files are copied.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { SlipwayError } from '../common/errors.ts';
import { binary } from '../common/which.ts';

const execFileP = promisify(execFile);

export function isMounted(target: string): boolean {
  // /proc/self/mountinfo escapes spaces as \040; our paths have none.
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === target);
}

export async function mountOverlay(lowers: string[], upper: string, work: string, target: string): Promise<void> {
  if (isMounted(target)) return;
  // The merged root takes the upper dir's owner and mode: 0755 root, as an image's / is, so a
  // non-root process can walk it. The container dir above is 0700: no host user reaches it.
  await Promise.all([mkdir(upper, { recursive: true, mode: 0o755 }), mkdir(work, { recursive: true, mode: 0o700 }), mkdir(target, { recursive: true, mode: 0o700 })]);
  await chmod(upper, 0o755);
  const opts = `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}`;
  if (opts.length > 4000) throw new SlipwayError('invalid_params', 'image has too many layers to mount');
  try {
    await execFileP(binary('mount'), ['-t', 'overlay', 'overlay', '-o', opts, target]);
  } catch (err) {
    throw new SlipwayError('runtime_error', `mounting the root filesystem failed: ${(err as { stderr?: string }).stderr ?? err}`, { cause: err });
  }
}

export async function unmount(target: string): Promise<void> {
  if (!isMounted(target)) return;
  try {
    await execFileP(binary('umount'), [target]);
  } catch {
    // Busy (a process outside still holds it): detach it lazily rather than leak the mount.
    await execFileP(binary('umount'), ['-l', target]).catch(() => undefined);
  }
}
