// $SLIPWAY_HOME holds every app's config vars, tokens, images and the containers' upper dirs (with
// whatever setuid files an app wrote there): no other local user may read or reach any of it
// (DESIGN.md: state under SLIPWAY_HOME is 0700/0600). Creation sites use these helpers; the agent
// runs `restrictTree` once over an existing home at start, for trees made by older versions.
import { chmodSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export const PRIVATE_DIR = 0o700;
export const PRIVATE_FILE = 0o600;

/** mkdir -p with 0700, and 0700 on the directory itself when it already existed. */
export function mkdirPrivate(path: string): void {
  mkdirSync(path, { recursive: true, mode: PRIVATE_DIR });
  chmodSync(path, PRIVATE_DIR);
}

export async function mkdirPrivateAsync(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: PRIVATE_DIR });
  await chmod(path, PRIVATE_DIR);
}

/** Writes a file only root reads (0600, also when it existed with another mode). */
export function writeFilePrivate(path: string, data: string | Buffer): void {
  writeFileSync(path, data, { mode: PRIVATE_FILE });
  chmodSync(path, PRIVATE_FILE);
}

/**
 * Clears the group and other bits of `root` and everything below it (owner bits stay, so files
 * owned by the app user keep working), except where `keep(relPath)` says the entry is a
 * container's own filesystem: it keeps its modes, and the walk does not descend into it.
 * Symlinks are never followed. Returns how many entries changed.
 */
export function restrictTree(root: string, keep: (rel: string) => boolean): number {
  let changed = 0;
  const visit = (abs: string, rel: string) => {
    if (rel && keep(rel)) return;
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return; // gone meanwhile
    }
    if (st.isSymbolicLink()) return;
    if (st.mode & 0o077) {
      chmodSync(abs, st.mode & 0o7700);
      changed++;
    }
    if (!st.isDirectory()) return;
    for (const name of readdirSync(abs)) visit(join(abs, name), rel ? `${rel}/${name}` : name);
  };
  visit(root, '');
  return changed;
}
