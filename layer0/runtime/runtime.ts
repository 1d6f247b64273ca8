// createRuntime: the ContainerRuntime the agent serves, composed from the lifecycle, exec,
// archive and log-file modules over one RuntimeContext.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../common/logger.ts';
import type { SlipwayPaths } from '../common/paths.ts';
import type { HostNetwork } from '../network/types.ts';
import { statInRoot, tarFromRoot, untarIntoRoot } from './archive.ts';
import { dirsOf, mountRootfs, type RuntimeContext } from './container-launch.ts';
import { ContainerLifecycle } from './container-runtime.ts';
import { ExecManager } from './exec.ts';
import type { ImageStore } from './images/store.ts';
import { fileSize, followLogFile, logTimeSeconds, readLogFile } from './log-file.ts';
import { unmount } from './overlay.ts';
import { Runc } from './runc.ts';
import type { ContainerRecord, ContainerRuntime, LogLine, LogQuery } from './types.ts';

export interface RuntimeOptions {
  paths: SlipwayPaths;
  images: ImageStore;
  network: HostNetwork;
  log?: Logger;
  /** Bytes per container log file before conmon truncates it. */
  logSizeMax?: number;
}

export function createRuntime(o: RuntimeOptions): ContainerRuntime {
  const ctx: RuntimeContext = {
    paths: o.paths,
    images: o.images,
    network: o.network,
    runc: new Runc(join(o.paths.run, 'runc')),
    log: o.log ?? silentLogger,
    logSizeMax: o.logSizeMax ?? 20 * 1024 * 1024,
    containersRoot: join(o.paths.home, 'containers'),
    exitDir: join(o.paths.run, 'exits'),
    socketDir: join(o.paths.run, 'conmon'),
    mountUsers: new Map(),
  };
  const life = new ContainerLifecycle(ctx);
  const execs = new ExecManager(ctx, life.store);

  /**
   * Runs fn with the rootfs mounted. The mount and its release take the container's lock, so
   * they never interleave with an exit's unmount; a stopped container's rootfs stays mounted
   * only while someone reads it (holdUntil: a tar still streaming).
   */
  async function withRootfs<T>(rec: ContainerRecord, fn: (root: string) => Promise<T>, holdUntil?: (v: T) => Promise<void>): Promise<T> {
    const root = await life.serial(rec.id, async () => {
      ctx.mountUsers.set(rec.id, (ctx.mountUsers.get(rec.id) ?? 0) + 1);
      return mountRootfs(ctx, rec);
    });
    const release = () =>
      life.serial(rec.id, async () => {
        const n = (ctx.mountUsers.get(rec.id) ?? 1) - 1;
        if (n > 0) return void ctx.mountUsers.set(rec.id, n);
        ctx.mountUsers.delete(rec.id);
        if (rec.state.status !== 'running' && life.store.tryGet(rec.id)) await unmount(dirsOf(ctx, rec.id).rootfs);
      });
    try {
      const v = await fn(root);
      if (holdUntil) void holdUntil(v).finally(release);
      else await release();
      return v;
    } catch (err) {
      await release();
      throw err;
    }
  }

  const etcOverlays = (ref: string) => {
    const d = dirsOf(ctx, life.store.get(ref).id);
    return new Map([['/etc/hostname', d.hostname], ['/etc/hosts', d.hosts], ['/etc/resolv.conf', d.resolvConf]].filter(([, f]) => existsSync(f)) as [string, string][]);
  };

  const ended = (id: string) => () => {
    const rec = life.store.tryGet(id);
    return !rec || (rec.state.status !== 'running' && rec.state.status !== 'created' && rec.state.status !== 'restarting');
  };
  const onChange = (id: string) => (notify: () => void) => {
    life.signals.on(`exit:${id}`, notify);
    life.signals.on(`removed:${id}`, notify);
    return () => {
      life.signals.off(`exit:${id}`, notify);
      life.signals.off(`removed:${id}`, notify);
    };
  };

  async function* logs(ref: string, q: LogQuery): AsyncGenerator<LogLine> {
    const rec = life.store.get(ref);
    const { lines, size } = await readLogFile(rec.logPath);
    let picked = lines.filter((l) => {
      const t = logTimeSeconds(l.time);
      return (q.since === undefined || t >= q.since) && (q.until === undefined || t < q.until);
    });
    if (q.tail !== undefined) picked = q.tail === 0 ? [] : picked.slice(-q.tail);
    yield* picked;
    if (!q.follow || (q.until !== undefined && q.until * 1000 < Date.now())) return;
    for await (const l of followLogFile(rec.logPath, { from: size, signal: q.signal, ended: ended(rec.id), onChange: onChange(rec.id) })) {
      if (q.until !== undefined && logTimeSeconds(l.time) >= q.until) return;
      yield l;
    }
  }

  async function* attach(ref: string, signal?: AbortSignal): AsyncGenerator<LogLine> {
    const rec = life.store.get(ref);
    const from = await fileSize(rec.logPath);
    // Attached before start (docker run): the output ends when that run ends.
    const startedBefore = rec.state.startedAt;
    let sawRun = false;
    const done = () => {
      const r = life.store.tryGet(rec.id);
      if (!r) return true;
      if (r.state.status === 'running' || r.state.status === 'restarting') {
        sawRun = true;
        return false;
      }
      return sawRun || r.state.startedAt !== startedBefore;
    };
    yield* followLogFile(rec.logPath, { from, signal, ended: done, onChange: onChange(rec.id) });
  }

  return {
    create: (spec, extra) => life.create(spec, extra),
    start: (ref) => life.start(ref),
    stop: (ref, opts) => life.stop(ref, opts),
    restart: (ref, opts) => life.restart(ref, opts),
    kill: (ref, signal) => life.kill(ref, signal),
    remove: (ref, opts) => life.remove(ref, opts),
    wait: (ref, cond, signal) => life.wait(ref, cond, signal),
    get: (ref) => life.store.get(ref),
    list: () => life.store.list(),
    logs,
    attach,
    stats: (ref) => life.stats(ref),
    createExec: (ref, spec) => execs.create(ref, spec),
    startExec: (id, size) => execs.start(id, size),
    getExec: (id) => execs.get(id),
    resizeExec: (id, rows, cols) => execs.resize(id, rows, cols),
    archiveStat: (ref, path) => withRootfs(life.store.get(ref), (root) => statInRoot(root, path, etcOverlays(ref))),
    archiveGet: (ref, path) =>
      withRootfs(life.store.get(ref), (root) => tarFromRoot(root, path, etcOverlays(ref)), (v) =>
        new Promise<void>((resolve) => {
          v.tar.once('end', resolve);
          v.tar.once('error', resolve);
          v.tar.once('close', resolve);
        })),
    archivePut: (ref, path, input) => withRootfs(life.store.get(ref), (root) => untarIntoRoot(root, path, input)),
    onEvent: (l) => life.events.on(l),
    recentEvents: (since) => life.events.since(since),
    adopt: () => life.adopt(),
    pruneLeftovers: () => life.pruneLeftovers(),
    close: () => life.close(),
  };
}
