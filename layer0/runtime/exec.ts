// `docker exec`: a process started in a running container with `runc exec`, its stdio piped to
// the caller. Exec sessions live in the agent's memory (they end with it, as their pipes do).
import type { ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { SlipwayError } from '../common/errors.ts';
import { newId } from '../common/ids.ts';
import { capabilitySet } from './capabilities.ts';
import { containerCapabilities } from './oci-spec.ts';
import { DEFAULT_PATH, dirsOf, runcIdOf, type RuntimeContext } from './container-launch.ts';
import type { ContainerStore } from './container-store.ts';
import type { ExecRecord, ExecSession, ExecSpec } from './types.ts';

const KEEP_AFTER_EXIT_MS = 10 * 60_000;

export class ExecManager {
  private readonly execs = new Map<string, ExecRecord>();
  /** The `script` relay of each running TTY exec (its pty is what a resize sizes). */
  private readonly relays = new Map<string, ChildProcess>();

  constructor(private readonly ctx: RuntimeContext, private readonly store: ContainerStore) {}

  create(ref: string, spec: ExecSpec): ExecRecord {
    const rec = this.store.get(ref);
    if (rec.state.status !== 'running') throw new SlipwayError('not_running', `container ${rec.id} is not running`);
    if (!spec.cmd?.length) throw new SlipwayError('invalid_params', 'No exec command specified');
    const exec: ExecRecord = { id: newId(), containerId: rec.id, spec, running: false, exitCode: null, pid: 0 };
    this.execs.set(exec.id, exec);
    return exec;
  }

  get(id: string): ExecRecord {
    const e = this.execs.get(id);
    if (!e) throw new SlipwayError('exec_not_found', `No such exec instance: ${id}`);
    return e;
  }

  /** `POST /exec/{id}/resize`: sizes a running TTY exec's terminal; anything else is a no-op (as in Docker). */
  async resize(id: string, rows: number, cols: number): Promise<void> {
    this.get(id);
    const relay = this.relays.get(id);
    if (relay?.pid) await this.ctx.runc.resizeHostPty(relay.pid, rows, cols);
  }

  /** `size`: a TTY exec's terminal from the start (Docker's `ConsoleSize`). */
  async start(id: string, size?: { rows: number; cols: number }): Promise<ExecSession> {
    const exec = this.get(id);
    if (exec.running || exec.exitCode !== null) throw new SlipwayError('conflict', `exec ${id} has already run`);
    const rec = this.store.get(exec.containerId);
    if (rec.state.status !== 'running') throw new SlipwayError('not_running', `container ${rec.id} is not running`);
    const s = exec.spec;
    const user = this.ctx.images.resolveUser(rec.imageId, s.user || rec.spec.user);
    const env = [...rec.spec.env, ...(s.env ?? [])];
    if (!env.some((e) => e.startsWith('PATH='))) env.unshift(`PATH=${DEFAULT_PATH}`);
    if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home || '/'}`);
    if (s.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
    const processJson = join(dirsOf(this.ctx, rec.id).dir, `exec-${id}.json`);
    writeFileSync(processJson, JSON.stringify({
      // A TTY: foreground `runc exec` makes the pty and copies between its stdin/stdout and
      // the pty master (given a host pty: see Runc.spawnExec), so stdout carries the
      // process's stdout and stderr; runc's own errors land there too.
      terminal: s.tty ?? false,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args: s.cmd,
      env,
      cwd: s.workingDir || rec.spec.workingDir || '/',
      // Docker's exec: the container's own capabilities (and, through runc, its seccomp filter).
      capabilities: capabilitySet(containerCapabilities(rec.spec)),
      noNewPrivileges: true,
    }), { mode: 0o600 });
    const child = this.ctx.runc.spawnExec(runcIdOf(this.ctx, rec.id), processJson, {
      // A TTY's relay gets a stdin pipe even when none is attached, held open until the end
      // (as Docker's pty is): EOF would make `script` send EOF into the pty at once.
      stdio: [s.attachStdin || s.tty ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      hostPty: s.tty ?? false,
      ...(s.tty && size && size.rows > 0 && size.cols > 0 ? { ptySize: size } : {}),
    });
    child.stdin?.on('error', () => {}); // EPIPE: the client typed after the process ended
    exec.running = true;
    exec.pid = child.pid ?? 0;
    if (s.tty) this.relays.set(id, child);
    let stdout: NodeJS.ReadableStream = child.stdout!;
    let stderr: NodeJS.ReadableStream | null = child.stderr!;
    if (s.tty) {
      // Whatever the pty relay itself says on stderr still reaches the caller.
      const merged = new PassThrough();
      let open = 2;
      for (const st of [child.stdout!, child.stderr!]) {
        st.on('data', (d) => merged.write(d));
        st.on('end', () => --open === 0 && merged.end());
      }
      stdout = merged;
      stderr = null;
    }
    const exit = new Promise<number>((resolve) => {
      child.on('error', () => resolve(126));
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + (constants.signals[signal] ?? 9) : 255)));
    }).then((code) => {
      if (!s.attachStdin) child.stdin?.destroy();
      this.relays.delete(id);
      exec.running = false;
      exec.exitCode = code;
      rmSync(processJson, { force: true });
      setTimeout(() => this.execs.delete(id), KEEP_AFTER_EXIT_MS).unref();
      return code;
    });
    return { stdout, stderr, stdin: s.attachStdin ? child.stdin! : null, exit };
  }
}
