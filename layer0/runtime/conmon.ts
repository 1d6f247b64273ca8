// The one module that calls `conmon`, the per-container monitor: it runs `runc create`,
// keeps the container's stdio in a timestamped k8s-file log, writes the exit code to a file,
// and outlives the agent. We learn the outcome of create through conmon's sync pipe.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { SlipwayError } from '../common/errors.ts';
import { isAbsolute } from 'node:path';
import { binary } from '../common/which.ts';
import { cleanRuncError, runcPath } from './runc.ts';

/** conmon's path (SLIPWAY_CONMON overrides), looked up at first use, as runc's is. */
export const conmonPath = () => binary('conmon', process.env.SLIPWAY_CONMON);

export interface MonitorOptions {
  /** runc container id (carries the instance prefix). */
  runcId: string;
  name: string;
  bundle: string;
  runcRoot: string;
  logPath: string;
  logSizeMax: number;
  /** conmon writes `<exitDir>/<runcId>` with the exit code when the container ends. */
  exitDir: string;
  /** Per-container directory: conmon's pid file, its `exit` and `oom` files. */
  persistDir: string;
  socketDir: string;
  tty: boolean;
}

/** Starts conmon (which daemonizes) and resolves with the container's init pid once `runc create` is done. */
export async function startMonitor(o: MonitorOptions): Promise<number> {
  // conmon wants runc's absolute path ("Runtime path runc is not valid" otherwise).
  const runc = runcPath();
  if (!isAbsolute(runc)) throw new SlipwayError('runtime_error', `${runc} is not installed (Debian package runc; run deploy/install-deps as root)`);
  await Promise.all([mkdir(o.exitDir, { recursive: true }), mkdir(o.persistDir, { recursive: true, mode: 0o700 }), mkdir(o.socketDir, { recursive: true })]);
  const args = [
    '--api-version', '1',
    '-c', o.runcId, '-u', o.runcId, '-n', o.name,
    '-r', runc, '-b', o.bundle,
    '-p', `${o.persistDir}/pidfile`,
    '--conmon-pidfile', `${o.persistDir}/conmon.pid`,
    '--exit-dir', o.exitDir,
    '--persist-dir', o.persistDir,
    // conmon refuses to run without an attach socket dir; we do not use the socket.
    '--socket-dir-path', o.socketDir,
    '-l', `k8s-file:${o.logPath}`, '--log-size-max', String(o.logSizeMax),
    '--runtime-arg', `--root=${o.runcRoot}`,
    '--log-level', 'error',
    ...(o.tty ? ['-t'] : []),
  ];
  const child = spawn(conmonPath(), args, {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3' },
    // conmon also drops an `oom` file in its working directory: keep it in the bundle.
    cwd: o.bundle,
    detached: true,
  });
  let sync = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    // conmon writes {"data": pid} (or -1 and a message) once `runc create` is done, and keeps the
    // pipe open while the container lives; a closed pipe without a message is a failure.
    child.stdio[3]!.on('data', (d: Buffer) => {
      sync += d.toString();
      if (parseSync(sync)) resolve();
    });
    child.stdio[3]!.once('close', () => resolve());
  });
  child.stdio[3]!.destroy();
  child.stderr!.destroy();
  child.unref();
  const msg = parseSync(sync);
  if (msg && msg.data > 0) return msg.data;
  const why = msg?.message ? cleanRuncError(msg.message) : stderr.replace(/\[conmon:d\]:[^\n]*\n?/g, '').trim();
  throw new SlipwayError('runtime_error', why || 'the container monitor failed to create the container');
}

function parseSync(text: string): { data: number; message?: string } | null {
  for (const line of text.split('\n').reverse()) {
    try {
      const v = JSON.parse(line) as { data: number; message?: string };
      if (typeof v.data === 'number') return v;
    } catch {
      /* not a JSON line */
    }
  }
  return null;
}

/**
 * Stops a container's monitor found by its pid file (a crash lost the runc state it watches):
 * SIGKILL, only when that pid is still a conmon of this runc id. Returns the pid, or null.
 */
export function killMonitor(persistDir: string, runcId: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(`${persistDir}/conmon.pid`, 'utf8').trim());
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!(pid > 0) || !cmd[0]?.endsWith('conmon') || !cmd.includes(runcId)) return null;
    process.kill(pid, 'SIGKILL');
    return pid;
  } catch {
    return null;
  }
}
