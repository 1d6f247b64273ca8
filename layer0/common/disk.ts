// Disk use for collectors and `slipway status`: bytes a directory tree takes on disk (du, which
// counts a hard-linked file once) and the free space of the filesystem holding a path.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Bytes used on disk under `path` (0 when it does not exist). Files vanishing meanwhile are skipped. */
export async function dirBytes(path: string): Promise<number> {
  if (!existsSync(path)) return 0;
  const r = await execFileP('du', ['-s', '--block-size=1', path], { maxBuffer: 1 << 20 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return Number(/^(\d+)/.exec(r.stdout)?.[1] ?? 0);
}

export interface FsSpace {
  totalBytes: number;
  freeBytes: number;
}

/** Size and space available (to unprivileged users) of the filesystem that holds `path`. */
export async function fsSpace(path: string): Promise<FsSpace> {
  const s = await statfs(path);
  return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
}
