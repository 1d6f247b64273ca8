// The one module that calls `runc` (STYLE.md §2): state, start, kill, delete, list, exec.
// Every call uses the agent's private runc root so instances never see each other's containers.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { constants } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SlipwayError } from '../common/errors.ts';
import { binary } from '../common/which.ts';

const execFileP = promisify(execFile);
/** runc's path (SLIPWAY_RUNC overrides), looked up at first use: `slipway up` may have just installed it. */
export const runcPath = () => binary('runc', process.env.SLIPWAY_RUNC);
const scriptPath = () => binary('script');
const sttyPath = () => binary('stty');

export interface RuncState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
  created: string;
}

export class Runc {
  constructor(readonly root: string) {}

  private async run(args: string[]): Promise<string> {
    try {
      const { stdout } = await execFileP(runcPath(), ['--root', this.root, ...args], { maxBuffer: 16 << 20 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new SlipwayError('runtime_error', cleanRuncError(e.stderr || e.message), { cause: err });
    }
  }

  /** Null when runc does not know the container. */
  async state(id: string): Promise<RuncState | null> {
    try {
      return JSON.parse(await this.run(['state', id])) as RuncState;
    } catch (err) {
      if (err instanceof SlipwayError && /does not exist/.test(err.message)) return null;
      throw err;
    }
  }

  async list(): Promise<RuncState[]> {
    const out = await this.run(['list', '--format', 'json']);
    return (JSON.parse(out || 'null') as RuncState[] | null) ?? [];
  }

  /**
   * `runc start`, done the way runc does it: the created init blocks opening
   * `<root>/<id>/exec.fifo` for writing; a reader lets it through, it writes one byte and execs
   * (the fd is close-on-exec, so EOF means the process is running), and the fifo is removed.
   * Doing it here saves starting a Go binary on the container start path (~7 ms);
   * anything unexpected falls back to `runc start`.
   */
  async start(id: string): Promise<void> {
    const fifo = join(this.root, id, 'exec.fifo');
    if (await readExecFifo(fifo).catch(() => false)) {
      await unlink(fifo).catch(() => undefined);
      return;
    }
    await this.run(['start', id]);
  }

  async kill(id: string, signal: string | number, all = false): Promise<void> {
    await this.run(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  /** Removes runc's state and the container's cgroups; a missing container is fine. */
  async delete(id: string, force = false): Promise<void> {
    try {
      await this.run(['delete', ...(force ? ['--force'] : []), id]);
    } catch (err) {
      if (err instanceof SlipwayError && /does not exist/.test(err.message)) return;
      throw err;
    }
  }

  /**
   * `runc exec -p process.json`: the caller owns the child's stdio and exit. `hostPty` (for a
   * process.json with `terminal: true`): foreground runc makes the container's pty and copies
   * between its own stdin/stdout and the pty master, but (runc 1.1 `initHostConsole`) only when
   * one of its stdio is a terminal or it has a controlling /dev/tty, else "open /dev/tty: no
   * such device or address". util-linux `script` gives it one and relays it to our pipes; runc
   * sets that outer pty raw, `-e` passes the exit code through, stdin EOF ends the session.
   * `ptySize` sizes that pty first (else it is 0×0 until a resize).
   */
  spawnExec(id: string, processJsonPath: string, opts: { detach?: boolean; pidFile?: string; hostPty?: boolean; ptySize?: { rows: number; cols: number } } & SpawnOptions = {}): ChildProcess {
    const args = ['--root', this.root, 'exec', '--process', processJsonPath];
    if (opts.pidFile) args.push('--pid-file', opts.pidFile);
    if (opts.detach) args.push('--detach');
    args.push(id);
    const stdio = opts.stdio ?? ['pipe', 'pipe', 'pipe'];
    if (opts.hostPty && !opts.detach) {
      let cmd = ['exec', runcPath(), ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
      // Sized before runc starts, runc gives the container's console that size from the outset.
      const size = opts.ptySize;
      if (size) cmd = `'${sttyPath()}' rows ${Math.trunc(size.rows)} cols ${Math.trunc(size.cols)} 2>/dev/null; ${cmd}`;
      return spawn(scriptPath(), ['-q', '-e', '-f', '-c', cmd, '/dev/null'], { stdio, env: { ...process.env, SHELL: '/bin/sh' } });
    }
    return spawn(runcPath(), args, { stdio });
  }

  /**
   * Sizes the host pty of a `hostPty` exec (the relay `spawnExec` returned): `stty -F` on the pty
   * slave that runc has as stdin (the relay's child is `runc exec` itself). The kernel then sends
   * SIGWINCH to runc, the pty's foreground process, which copies the size to the container's
   * console (runc `signals.go`), and the container's foreground process gets its own SIGWINCH.
   */
  async resizeHostPty(relayPid: number, rows: number, cols: number): Promise<void> {
    const deadline = Date.now() + 2000;
    let child = 0;
    // Right after the spawn, `script` may not have forked runc yet.
    while (!child) {
      const text = await readFile(`/proc/${relayPid}/task/${relayPid}/children`, 'utf8').catch(() => null);
      if (text === null) return; // the relay has ended: nothing to size
      child = Number(text.trim().split(/\s+/)[0] || 0);
      if (!child) {
        if (Date.now() > deadline) throw new SlipwayError('runtime_error', 'the exec has no terminal yet');
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    try {
      await execFileP(sttyPath(), ['-F', `/proc/${child}/fd/0`, 'rows', String(rows), 'cols', String(cols)]);
    } catch (err) {
      // The exec ended in between: a resize then does nothing, as Docker's does.
      if (await readFile(`/proc/${child}/stat`).then(() => true, () => false)) throw new SlipwayError('runtime_error', `resizing the exec's terminal failed: ${(err as { stderr?: string }).stderr || (err as Error).message}`, { cause: err });
    }
  }

  /** Foreground `runc run` (no monitor): used by the baseline benchmark only. */
  spawnRun(id: string, bundle: string, opts: SpawnOptions = {}): ChildProcess {
    return spawn(runcPath(), ['--root', this.root, 'run', '--bundle', bundle, id], { stdio: opts.stdio ?? 'ignore' });
  }
}

/** True once the init wrote its byte and exec'd; false when nothing could be read. */
async function readExecFifo(path: string): Promise<boolean> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(16);
    let got = 0;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      let n: number;
      try {
        n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        n = -1; // the writer is connected but has not written yet
      }
      if (n > 0) got += n;
      else if (n === 0 && got > 0) return true; // EOF after the byte: exec'd
      // n === 0 with nothing read: the init has not opened its end yet; try again shortly.
      if (n <= 0) await new Promise((r) => setTimeout(r, n === 0 ? 1 : 0));
    }
    return false;
  } finally {
    await fh.close();
  }
}

/** runc's logrus lines → the message alone, so clients see the real cause (exec errors drive CLI exit codes 126/127). */
export function cleanRuncError(text: string): string {
  const msgs = [...text.matchAll(/msg="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\"/g, '"'));
  const jsonMsgs = text
    .split('\n')
    .map((l) => {
      try {
        return (JSON.parse(l) as { msg?: string }).msg ?? '';
      } catch {
        return '';
      }
    })
    .filter(Boolean);
  const all = [...msgs, ...jsonMsgs];
  return (all.length ? all.join(': ') : text).trim() || 'runc failed';
}
