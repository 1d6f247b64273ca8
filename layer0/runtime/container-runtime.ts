// The container runtime (ContainerRuntime in types.ts): container lifecycle, exit handling
// through conmon's exit files, restart policies, waiters, and adoption after an agent restart.
// Exec, archive and log queries live in their own files; this file owns state transitions.
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readdirSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { dirBytes } from '../common/disk.ts';
import { join } from 'node:path';
import { SlipwayError } from '../common/errors.ts';
import { newId } from '../common/ids.ts';
import { cgroupsPathOf, cleanupRun, dirsOf, launch, readExitCode, runcIdOf, type RuntimeContext } from './container-launch.ts';
import { ContainerStore } from './container-store.ts';
import { childCgroups, killCgroup, oomKillCount, readStats } from './cgroups.ts';
import { killMonitor } from './conmon.ts';
import { EventBus } from './events.ts';
import { unmount } from './overlay.ts';
import { nextBackoff, shouldRestart } from './restart-policy.ts';
import { ContainerSpecSchema, type ContainerRecord, type ContainerSpecInput, type ContainerStats, type WaitCondition } from './types.ts';

const ZERO_TIME = null;

export class ContainerLifecycle {
  readonly store: ContainerStore;
  readonly events = new EventBus();
  /** 'exit:<id>' and 'removed:<id>' fire here. */
  readonly signals = new EventEmitter();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly backoff = new Map<string, number>();
  private readonly removing = new Set<string>();
  private watcher: FSWatcher | null = null;
  private poller: NodeJS.Timeout | null = null;

  constructor(readonly ctx: RuntimeContext) {
    this.signals.setMaxListeners(0);
    this.store = new ContainerStore(ctx.containersRoot);
    mkdirSync(ctx.exitDir, { recursive: true });
    mkdirSync(ctx.socketDir, { recursive: true });
  }

  /** One state change at a time per container. */
  serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  private persist(rec: ContainerRecord): void {
    // During a removal the container's dir may already be gone: nothing left to record then.
    if (!this.removing.has(rec.id) || existsSync(dirsOf(this.ctx, rec.id).dir)) this.store.save(rec);
  }

  private attrs(rec: ContainerRecord, more: Record<string, string> = {}): Record<string, string> {
    return { ...rec.spec.labels, image: rec.spec.image, name: rec.spec.name, ...more };
  }

  async create(input: ContainerSpecInput, extra: Record<string, unknown> = {}): Promise<ContainerRecord> {
    const parsed = ContainerSpecSchema.safeParse(input);
    if (!parsed.success) {
      throw new SlipwayError('invalid_params', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    }
    const spec = parsed.data;
    const image = this.ctx.images.resolve(spec.image);
    const id = newId();
    if (!spec.name) spec.name = `${this.ctx.paths.prefix}_${id.slice(0, 12)}`;
    if (!spec.hostname) spec.hostname = id.slice(0, 12);
    this.ctx.images.resolveUser(image.id, spec.user); // an unknown user fails now, not at start
    const rec: ContainerRecord = {
      id,
      spec,
      imageId: image.id,
      created: new Date().toISOString(),
      state: { status: 'created', pid: 0, exitCode: 0, oomKilled: false, error: '', startedAt: ZERO_TIME, finishedAt: ZERO_TIME, restartCount: 0, stoppedByUser: false },
      network: null,
      logPath: join(this.ctx.containersRoot, id, 'container.log'),
      extra,
    };
    this.store.add(rec);
    this.events.emit('container', 'create', id, this.attrs(rec));
    return rec;
  }

  start(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    return this.serial(rec.id, async () => {
      if (rec.state.status === 'running') throw new SlipwayError('not_modified', 'container already started');
      this.cancelRestart(rec.id);
      rec.state.stoppedByUser = false;
      await this.run(rec);
    });
  }

  private async run(rec: ContainerRecord): Promise<void> {
    try {
      const pid = await launch(this.ctx, rec);
      Object.assign(rec.state, { status: 'running', pid, exitCode: 0, oomKilled: false, error: '', startedAt: new Date().toISOString() });
      this.persist(rec);
      this.events.emit('container', 'start', rec.id, this.attrs(rec));
      this.checkExit(rec.id); // it may already be gone ("true" exits in a millisecond)
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const exitCode = /not found|no such file/i.test(message) ? 127 : /permission denied/i.test(message) ? 126 : 128;
      Object.assign(rec.state, { status: rec.state.startedAt ? 'exited' : 'created', pid: 0, exitCode, error: message });
      this.persist(rec);
      throw err;
    }
  }

  /** Called by the exit-file watcher and pollers; idempotent. */
  checkExit(id: string): void {
    const rec = this.store.tryGet(id);
    if (!rec || rec.state.status !== 'running') return;
    const code = readExitCode(this.ctx, rec.id);
    if (code === null) return;
    void this.serial(rec.id, () => this.handleExit(rec, code)).catch((err) => this.ctx.log.error({ err, id }, 'exit handling failed'));
  }

  private async handleExit(rec: ContainerRecord, exitCode: number, error = ''): Promise<void> {
    if (rec.state.status !== 'running') return;
    const d = dirsOf(this.ctx, rec.id);
    // The OOM counter lives in the cgroup, which `runc delete` removes: read it first.
    const oom = existsSync(join(d.persist, 'oom')) || existsSync(join(d.dir, 'oom')) || oomKillCount(cgroupsPathOf(this.ctx, rec.id)) > 0;
    const ranFor = Date.now() - Date.parse(rec.state.startedAt ?? new Date().toISOString());
    Object.assign(rec.state, { status: 'exited', pid: 0, exitCode, oomKilled: oom, error, finishedAt: new Date().toISOString() });
    const restart = !this.removing.has(rec.id) && shouldRestart(rec, exitCode);
    if (restart) rec.state.status = 'restarting';
    this.persist(rec);
    if (oom) this.events.emit('container', 'oom', rec.id, this.attrs(rec));
    this.events.emit('container', 'die', rec.id, this.attrs(rec, { exitCode: String(exitCode) }));
    // Waiters hear of the exit at once; the clean-up below still holds this container's lock,
    // so a start or remove that follows waits for it.
    this.signals.emit(`exit:${rec.id}`, exitCode);
    await cleanupRun(this.ctx, rec).catch((err) => this.ctx.log.warn({ err, id: rec.id }, 'clean-up after exit'));
    rmSync(join(this.ctx.exitDir, runcIdOf(this.ctx, rec.id)), { force: true });
    if (restart) {
      const delay = nextBackoff(this.backoff.get(rec.id) ?? 0, ranFor);
      this.backoff.set(rec.id, delay);
      this.scheduleRestart(rec, delay);
    } else if (rec.spec.autoRemove && !this.removing.has(rec.id)) {
      void this.remove(rec.id, { force: true }).catch((err) => this.ctx.log.warn({ err, id: rec.id }, 'auto-remove failed'));
    }
  }

  private scheduleRestart(rec: ContainerRecord, delay: number): void {
    this.cancelRestart(rec.id);
    const timer = setTimeout(() => {
      this.restartTimers.delete(rec.id);
      void this.serial(rec.id, async () => {
        if (rec.state.status !== 'restarting' || rec.state.stoppedByUser) return;
        rec.state.restartCount++;
        await this.run(rec);
        this.events.emit('container', 'restart', rec.id, this.attrs(rec));
      }).catch((err) => {
        this.ctx.log.warn({ err, id: rec.id }, 'restart failed');
        if (shouldRestart(rec, rec.state.exitCode)) {
          rec.state.status = 'restarting';
          this.scheduleRestart(rec, nextBackoff(delay, 0));
        }
      });
    }, delay);
    timer.unref();
    this.restartTimers.set(rec.id, timer);
  }

  private cancelRestart(id: string): boolean {
    const t = this.restartTimers.get(id);
    if (t) clearTimeout(t);
    return this.restartTimers.delete(id);
  }

  private exited(id: string, timeoutMs: number): Promise<boolean> {
    const rec = this.store.tryGet(id);
    if (!rec || rec.state.status !== 'running') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.signals.off(`exit:${id}`, onExit);
        resolve(v);
      };
      const onExit = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.signals.on(`exit:${id}`, onExit);
      this.checkExit(id);
    });
  }

  async stop(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const rec = this.store.get(ref);
    const wasRestarting = rec.state.status === 'restarting';
    rec.state.stoppedByUser = true;
    if (this.cancelRestart(rec.id)) rec.state.status = 'exited';
    else if (wasRestarting) await this.serial(rec.id, async () => undefined); // a restart in flight
    this.persist(rec);
    if (rec.state.status !== 'running') {
      if (wasRestarting) return;
      throw new SlipwayError('not_modified', 'container already stopped');
    }
    const timeout = opts.timeout ?? rec.spec.stopTimeout;
    await this.ctx.runc.kill(runcIdOf(this.ctx, rec.id), opts.signal || rec.spec.stopSignal).catch(() => undefined);
    if (await this.exited(rec.id, timeout * 1000)) return;
    await this.ctx.runc.kill(runcIdOf(this.ctx, rec.id), 'KILL', true).catch(() => undefined);
    if (!(await this.exited(rec.id, 10_000))) throw new SlipwayError('runtime_error', `container ${rec.id} did not stop`);
  }

  async restart(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const rec = this.store.get(ref);
    await this.stop(rec.id, opts).catch((err) => {
      if (!(err instanceof SlipwayError && err.code === 'not_modified')) throw err;
    });
    await this.start(rec.id);
    this.events.emit('container', 'restart', rec.id, this.attrs(rec));
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const rec = this.store.get(ref);
    if (rec.state.status !== 'running') {
      throw new SlipwayError('not_running', `Cannot kill container: ${ref}: container ${rec.id} is not running`);
    }
    try {
      await this.ctx.runc.kill(runcIdOf(this.ctx, rec.id), signal);
    } catch (err) {
      if (/invalid signal|unknown signal/i.test((err as Error).message)) throw new SlipwayError('invalid_params', `Invalid signal: ${signal}`);
      throw err;
    }
    this.events.emit('container', 'kill', rec.id, this.attrs(rec, { signal }));
  }

  async remove(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    const rec = this.store.get(ref);
    if (rec.state.status === 'running' && !opts.force) {
      throw new SlipwayError('conflict', `You cannot remove a running container ${rec.id}. Stop the container before attempting removal or force remove`);
    }
    if (this.removing.has(rec.id)) return;
    this.removing.add(rec.id);
    this.cancelRestart(rec.id);
    try {
      if (rec.state.status === 'running') {
        rec.state.stoppedByUser = true;
        await this.ctx.runc.kill(runcIdOf(this.ctx, rec.id), 'KILL', true).catch(() => undefined);
        await this.exited(rec.id, 10_000);
      }
      await this.serial(rec.id, async () => {
        await cleanupRun(this.ctx, rec);
        this.ctx.mountUsers.delete(rec.id); // a copy still streaming loses its source: removal wins
        await unmount(dirsOf(this.ctx, rec.id).rootfs);
        rmSync(join(this.ctx.exitDir, runcIdOf(this.ctx, rec.id)), { force: true });
        this.store.delete(rec.id);
        rmSync(dirsOf(this.ctx, rec.id).dir, { recursive: true, force: true });
      });
      this.backoff.delete(rec.id);
      this.events.emit('container', 'destroy', rec.id, this.attrs(rec));
      this.signals.emit(`removed:${rec.id}`);
    } finally {
      this.removing.delete(rec.id);
    }
  }

  wait(ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<{ exitCode: number; error: string }> {
    const rec = this.store.get(ref);
    const result = () => ({ exitCode: rec.state.exitCode, error: rec.state.error });
    if (condition === 'not-running' && rec.state.status !== 'running' && rec.state.status !== 'restarting') return Promise.resolve(result());
    const event = condition === 'removed' ? `removed:${rec.id}` : `exit:${rec.id}`;
    return new Promise((resolve, reject) => {
      const onEvent = () => {
        cleanup();
        resolve(result());
      };
      const onAbort = () => {
        cleanup();
        reject(new SlipwayError('unavailable', 'wait aborted'));
      };
      const cleanup = () => {
        this.signals.off(event, onEvent);
        signal?.removeEventListener('abort', onAbort);
      };
      this.signals.on(event, onEvent);
      signal?.addEventListener('abort', onAbort);
    });
  }

  async stats(ref: string): Promise<ContainerStats> {
    const rec = this.store.get(ref);
    return readStats(cgroupsPathOf(this.ctx, rec.id));
  }

  /** Finds every container again after an agent restart and starts watching for exits. */
  async adopt(): Promise<void> {
    for (const rec of this.store.list()) {
      if (rec.state.status === 'running') {
        if (readExitCode(this.ctx, rec.id) !== null) {
          this.checkExit(rec.id);
          continue;
        }
        const st = await this.ctx.runc.state(runcIdOf(this.ctx, rec.id)).catch(() => null);
        if (st && (st.status === 'running' || st.status === 'created' || st.status === 'paused')) {
          const n = rec.network;
          if (n?.mode === 'bridge' && n.netnsPath && n.netnsName && n.vethHost) {
            this.ctx.network.adopt(rec.id, { ...n, netnsPath: n.netnsPath, netnsName: n.netnsName, vethHost: n.vethHost });
          }
          continue;
        }
        // runc no longer knows it: a reboot (the monitor is gone too), or a crash that took
        // SLIPWAY_RUN (runc's state) while the monitor and the processes live on. Nothing can
        // manage those orphans any more: they are stopped, so the container can run again.
        const orphans = this.reapOrphan(rec);
        await this.serial(rec.id, () => this.handleExit(rec, 255, 'container monitor lost; exit code unknown'));
        if ((await orphans).length) this.ctx.log.warn({ id: rec.id, pids: await orphans }, 'stopped the processes of a container whose runc state was lost');
      } else if (rec.state.status === 'restarting') {
        this.scheduleRestart(rec, 100);
      }
    }
    await this.reapStaleCgroups();
    this.watch();
  }

  /** Kills the monitor (by its pid file) and every process in the container's cgroup; returns the pids. */
  private async reapOrphan(rec: ContainerRecord): Promise<number[]> {
    const monitor = killMonitor(dirsOf(this.ctx, rec.id).persist, runcIdOf(this.ctx, rec.id));
    const killed = await killCgroup(cgroupsPathOf(this.ctx, rec.id));
    return monitor === null ? killed : [monitor, ...killed];
  }

  /** Container cgroups of this prefix that no running container owns (a record removed while its processes lived on). */
  private async reapStaleCgroups(): Promise<void> {
    // A restarting container may be starting again right now (its back-off timer): its cgroup is not stale.
    const live = new Set(this.store.list().filter((r) => r.state.status === 'running' || r.state.status === 'restarting').map((r) => runcIdOf(this.ctx, r.id)));
    for (const name of childCgroups(this.ctx.paths.prefix)) {
      if (live.has(name) || !name.startsWith(`${this.ctx.paths.prefix}-`)) continue;
      const killed = await killCgroup(`/${this.ctx.paths.prefix}/${name}`);
      this.ctx.log.warn({ cgroup: name, pids: killed }, 'removed the cgroup of a container that no longer exists');
    }
  }

  /**
   * Container directories (bundle, upper layer, log) that no container owns: a create or a
   * removal cut short by a crash. Each is unmounted and removed; returns what went.
   */
  async pruneLeftovers(): Promise<{ removed: string[]; freedBytes: number }> {
    const known = new Set(this.store.list().map((r) => r.id));
    const out = { removed: [] as string[], freedBytes: 0 };
    for (const name of readdirSync(this.ctx.containersRoot)) {
      if (known.has(name) || !/^[0-9a-f]{64}$/.test(name)) continue;
      const d = dirsOf(this.ctx, name);
      await unmount(d.rootfs);
      out.freedBytes += await dirBytes(d.dir);
      rmSync(d.dir, { recursive: true, force: true });
      out.removed.push(name);
    }
    return out;
  }

  private watch(): void {
    if (this.watcher) return;
    const prefix = `${this.ctx.paths.prefix}-`;
    this.watcher = watch(this.ctx.exitDir, (_event, file) => {
      if (file && file.startsWith(prefix)) this.checkExit(file.slice(prefix.length));
    });
    // inotify can miss nothing on a local dir, but a cheap sweep covers a watcher error.
    this.poller = setInterval(() => {
      for (const rec of this.store.list()) if (rec.state.status === 'running') this.checkExit(rec.id);
    }, 2000);
    this.poller.unref();
  }

  async close(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    if (this.poller) clearInterval(this.poller);
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
    await Promise.all([...this.locks.values()]);
  }
}
