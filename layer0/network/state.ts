// The network's state file (`<stateDir>/network.json`: the chosen subnet and each container's
// attachment), written atomically, and a machine-wide lock for choosing a subnet.
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Attachment } from './types.ts';

export interface NetworkState {
  subnet: string | null;
  attachments: Record<string, Attachment>;
}

export function statePath(stateDir: string): string {
  return join(stateDir, 'network.json');
}

export function loadState(stateDir: string): NetworkState {
  let text: string;
  try {
    text = readFileSync(statePath(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { subnet: null, attachments: {} };
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<NetworkState>;
  return { subnet: parsed.subnet ?? null, attachments: parsed.attachments ?? {} };
}

/** Write to a temp file, fsync, rename over the old one: readers see the old or the new file. */
export async function saveState(stateDir: string, state: NetworkState): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = statePath(stateDir);
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

export const HOST_LOCK = '/run/lock/slipway-network.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding a machine-wide lock file (O_EXCL, holder's pid inside; a dead holder's
 * lock is broken), so instances starting together never pick the same subnet.
 */
export async function withHostLock<T>(fn: () => Promise<T>, path = HOST_LOCK, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      // An empty file older than 5 s: its holder died between creating and writing it.
      const age = Date.now() - ((await stat(path).catch(() => null))?.mtimeMs ?? Date.now());
      if ((pid > 0 && !alive(pid)) || (!(pid > 0) && age > 5000)) await unlink(path).catch(() => undefined);
      else if (Date.now() > deadline) throw new Error(`timed out waiting for ${path} (held by pid ${pid})`);
      else await sleep(25);
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => undefined);
  }
}
