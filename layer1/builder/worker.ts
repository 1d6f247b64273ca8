// The build worker: takes `slipway-builds` jobs (BullMQ), runs each build in a container on an
// agent (run-build.ts), records its end, and starts the app's next build. Cancels arrive on a
// Redis channel, so any producer reaches the worker running the build. Started by `slipway up`.
import { fileURLToPath } from 'node:url';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { connectAgent } from '../../layer0/agent/client.ts';
import type { AgentClientOptions } from '../../layer0/agent/types.ts';
import { silentLogger, type Logger } from '../../layer0/common/logger.ts';
import { connectRedis } from '../../layer0/discovery/client.ts';
import type { BlobClient } from '../blobstore/client.ts';
import { readHostBuildEnv, type HostBuildEnv } from './host-env.ts';
import { createBuildQueue, DEFAULT_STACK, QUEUE_NAME, type BuildJobData, type BuildQueue } from './queue.ts';
import { BUILD_IMAGE, SLUG_PARENT } from './slug.ts';
import { runBuild, type BuildRun, type RunBuildDeps } from './run-build.ts';
import { TERMINAL, type BuildRecord } from './types.ts';

export const DEFAULT_BUILDPACKS_DIR = fileURLToPath(new URL('../../buildpacks', import.meta.url));
export const DEFAULT_DRIVER = ['/slipway/buildpacks/bin/build'];

export interface BuilderOptions {
  redis: Redis | string;
  /** How to reach the agent that runs build containers (this host's: `{ socketPath }`). */
  agent: AgentClientOptions;
  blobs: BlobClient;
  /** `$SLIPWAY_HOME`: build caches live in `cache/builds/<appId>` (cache.ts). */
  home?: string;
  log?: Logger;
  /** Builds at once on this worker (of different apps; default 1). */
  concurrency?: number;
  keyPrefix?: string;
  bullPrefix?: string;
  /** Host dir mounted at /slipway/buildpacks (default: the repo's `buildpacks/`). */
  buildpacksDir?: string;
  /** The command run in the container (default `/slipway/buildpacks/bin/build`). */
  driver?: string[];
  /** Default: the stack's build image, else (not on this host) the run image. */
  image?: string;
  stack?: string;
  /** Host-wide cache of Node/npm/yarn/pnpm tarballs (`$SLIPWAY_CACHE/runtimes`), bound read-write
   * at /slipway/runtimes; the buildpack checks each file against the registry's integrity. */
  runtimesDir?: string;
  /** Default 2 GiB. */
  memoryBytes?: number;
  /** Processes at once in a build container (default 4096; 0: no limit). */
  pidsLimit?: number;
  /** Default 15 minutes. */
  timeoutMs?: number;
  appUid?: number;
  /** Read once at start when not given. */
  host?: HostBuildEnv;
  extraEnv?: Record<string, string>;
  /** How often queued apps are re-checked for a head without a job (default 30 s). */
  resyncMs?: number;
}

export interface RunningBuilder {
  queue: BuildQueue;
  /** Stops taking jobs; running builds are stopped and recorded as failed (`interrupted`). */
  close(): Promise<void>;
}

export async function startBuilder(o: BuilderOptions): Promise<RunningBuilder> {
  const log = o.log ?? silentLogger;
  const owned = typeof o.redis === 'string';
  const redis = typeof o.redis === 'string' ? connectRedis(o.redis, { name: 'builder', log }) : o.redis;
  const queue = createBuildQueue({ redis, keyPrefix: o.keyPrefix, bullPrefix: o.bullPrefix, log });
  const { store } = queue;
  const deps: RunBuildDeps = {
    agent: connectAgent(o.agent),
    blobs: o.blobs,
    host: o.host ?? (await readHostBuildEnv()),
    buildpacksDir: o.buildpacksDir ?? DEFAULT_BUILDPACKS_DIR,
    home: o.home ?? '/var/lib/slipway',
    // Builds run on the build image; a host without it builds on the run image (no compilers).
    image: o.image ?? BUILD_IMAGE,
    fallbackImage: o.image ? undefined : SLUG_PARENT,
    runtimesDir: o.runtimesDir,
    stack: o.stack ?? DEFAULT_STACK,
    driver: o.driver ?? DEFAULT_DRIVER,
    memoryBytes: o.memoryBytes ?? 2 * 2 ** 30,
    pidsLimit: o.pidsLimit ?? 4096,
    timeoutMs: o.timeoutMs ?? 15 * 60_000,
    appUid: o.appUid ?? 10001,
    extraEnv: o.extraEnv,
  };
  const running = new Map<string, AbortController>();

  // Cancels: every worker hears every id; the one running it aborts.
  const sub = redis.duplicate();
  sub.on('message', (_ch: string, id: string) => running.get(id)?.abort('cancelled'));
  await sub.subscribe(store.cancelChannel);

  async function advance(appId: string, id: string): Promise<void> {
    const next = await store.leaveQueue(appId, id);
    if (next) await queue.startJob(appId, next);
  }

  async function processJob(job: Job<BuildJobData>): Promise<void> {
    const { buildId: id, appId } = job.data;
    const rec = await store.get(appId, id);
    if (!rec || TERMINAL.has(rec.state)) return advance(appId, id);
    const request = await store.request(appId, id);
    if (!request) return advance(appId, id);
    const started: BuildRecord = { ...rec, state: 'building', startedAt: new Date().toISOString() };
    if (rec.state === 'building') await store.appendLog(appId, id, 'system', ['the builder running this build was lost; starting it again']);
    if (!(await store.transition(started, ['pending', 'building']))) return advance(appId, id);
    const ac = new AbortController();
    running.set(id, ac);
    if (await store.isCancelRequested(appId, id)) ac.abort('cancelled');
    log.info({ build: id, app: rec.app, commit: rec.commit }, 'build started');
    const t0 = Date.now();
    let run: BuildRun;
    try {
      run = await runBuild(deps, { id, appId, appName: rec.app, commit: rec.commit, request }, (stream, lines) => store.appendLog(appId, id, stream, lines), ac.signal);
    } catch (err) {
      log.error({ err, build: id }, 'build could not run');
      run = { ok: false, exitCode: null, slug: null, result: null, failure: { code: 'platform_error', message: `the build could not run: ${(err as Error).message}` } };
    } finally {
      running.delete(id);
    }
    if (run.failure?.code === 'cancelled' && ac.signal.reason === 'shutdown') {
      run.failure = { code: 'interrupted', message: 'the builder stopped during the build' };
    }
    const state = run.ok ? 'succeeded' : run.failure?.code === 'cancelled' ? 'cancelled' : 'failed';
    const finishedAt = new Date();
    const done: BuildRecord = {
      ...started, state, slug: run.slug,
      processTypes: run.result?.processTypes ?? {}, buildpacks: run.result?.buildpacks ?? [], stack: run.result?.stack ?? deps.stack,
      finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - t0, failure: run.failure,
    };
    const summary = run.ok
      ? `build ${id} succeeded in ${(done.durationMs! / 1000).toFixed(1)} s: slug ${run.slug!.blobId.slice(0, 12)} (${(run.slug!.size / 2 ** 20).toFixed(1)} MiB)`
      : run.failure!.message;
    await store.appendLog(appId, id, 'system', [summary]);
    await store.transition(done, ['building']);
    await store.endLog(appId, id, state);
    log.info({ build: id, app: rec.app, state, durationMs: done.durationMs, failure: run.failure?.code }, 'build ended');
    await advance(appId, id);
  }

  /** Level-triggered repair: every queued app's head has a job (a producer or worker may have died between steps). */
  async function resync(): Promise<void> {
    for (const appId of await store.queuedApps()) {
      const head = await store.queueHead(appId);
      if (!head) {
        await store.redis.srem(store.queues, appId);
        continue;
      }
      const rec = await store.get(appId, head);
      if (!rec || TERMINAL.has(rec.state)) {
        await advance(appId, head);
        continue;
      }
      if (!(await queue.bull.getJob(head))) await queue.startJob(appId, head);
    }
  }

  const worker = new Worker<BuildJobData>(QUEUE_NAME, processJob, {
    connection: redis,
    prefix: o.bullPrefix ?? 'bull',
    concurrency: o.concurrency ?? 1,
    // A build holds its job for minutes: the lock is renewed every lockDuration/2; a worker that
    // dies leaves the job stalled, and it runs again once (the old container is removed first).
    lockDuration: 30_000,
    maxStalledCount: 1,
  });
  worker.on('error', (err) => log.warn({ err }, 'build worker error'));
  await worker.waitUntilReady();
  await resync().catch((err: unknown) => log.warn({ err }, 'build resync failed'));
  const timer = setInterval(() => void resync().catch((err: unknown) => log.warn({ err }, 'build resync failed')), o.resyncMs ?? 30_000);
  timer.unref();
  log.info({ concurrency: o.concurrency ?? 1, image: deps.image, buildpacks: deps.buildpacksDir }, 'builder started');

  let closing: Promise<void> | null = null;
  return {
    queue,
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        for (const ac of running.values()) ac.abort('shutdown');
        await worker.close();
        await sub.quit().catch(() => sub.disconnect());
        await queue.close();
        if (owned) redis.disconnect();
        log.info('builder stopped');
      })();
      return closing;
    },
  };
}
