// The producer side of the build queue (the git receiver, the API): enqueue a build, see where it
// stands, follow its log live, cancel it, wait for its end. Builds of one app run one at a time:
// only the head of an app's FIFO is a BullMQ job on `slipway-builds`; when it ends, the next one
// is added (by the worker, or here when a queued build is cancelled).
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../layer0/common/errors.ts';
import { silentLogger, type Logger } from '../../layer0/common/logger.ts';
import { connectRedis } from '../../layer0/discovery/client.ts';
import { BuildStore, KEY_PREFIX, newBuildId } from './store.ts';
import { BuildRequestSchema, TERMINAL, type BuildLogLine, type BuildPosition, type BuildRecord, type BuildRequest } from './types.ts';

export const QUEUE_NAME = 'slipway-builds';
export const DEFAULT_STACK = 'bookworm';

export interface BuildJobData {
  buildId: string;
  appId: string;
}

export interface BuildQueueOptions {
  /** A connection to share, or a URL to open one (closed by `close`). */
  redis: Redis | string;
  /** Key prefix of the build records (the controller's, `ctl:`). */
  keyPrefix?: string;
  /** BullMQ's key prefix (default `bull`). */
  bullPrefix?: string;
  log?: Logger;
}

export interface BuildQueue {
  readonly store: BuildStore;
  /** Records a pending build and queues it behind the app's others. */
  enqueueBuild(req: BuildRequest): Promise<{ buildId: string; build: BuildRecord; position: BuildPosition }>;
  getBuild(id: string): Promise<BuildRecord | null>;
  position(id: string): Promise<BuildPosition>;
  /**
   * The build's log lines as they are written, from the start (or after `after`), ending when the
   * build has ended and every line was read. Abort `signal` to stop early.
   */
  followLog(id: string, o?: { after?: string; signal?: AbortSignal }): AsyncIterable<BuildLogLine>;
  /** Resolves with the record once the build has ended (`unavailable` after `timeoutMs`). */
  waitForBuild(id: string, o?: { timeoutMs?: number; signal?: AbortSignal }): Promise<BuildRecord>;
  /**
   * Cancels a build: a waiting one ends at once; a running one's container is killed by its
   * worker (within a second or two). Resolves with the record as it is now (await `waitForBuild`
   * for the end of a running one). An ended build is left as it is.
   */
  cancelBuild(id: string): Promise<BuildRecord>;
  /** Adds the BullMQ job of an app's next build (used by the worker and by cancel). */
  startJob(appId: string, buildId: string): Promise<void>;
  readonly bull: Queue<BuildJobData>;
  close(): Promise<void>;
}

export function createBuildQueue(o: BuildQueueOptions): BuildQueue {
  const log = o.log ?? silentLogger;
  const owned = typeof o.redis === 'string';
  const redis = typeof o.redis === 'string' ? connectRedis(o.redis, { name: 'builds', log }) : o.redis;
  const store = new BuildStore(redis, o.keyPrefix ?? KEY_PREFIX);
  const bull = new Queue<BuildJobData>(QUEUE_NAME, { connection: redis, prefix: o.bullPrefix ?? 'bull' });
  const followers = new Set<Redis>();

  async function must(id: string): Promise<BuildRecord> {
    const rec = await store.find(id);
    if (!rec) throw new SlipwayError('not_found', `no build ${id}`);
    return rec;
  }

  async function startJob(appId: string, buildId: string): Promise<void> {
    await bull.add('build', { buildId, appId }, { jobId: buildId, removeOnComplete: true, removeOnFail: true, attempts: 1 });
  }

  const q: BuildQueue = {
    store,
    bull,
    startJob,
    async enqueueBuild(input) {
      const parsed = BuildRequestSchema.safeParse(input);
      if (!parsed.success) {
        const i = parsed.error.issues[0]!;
        throw new SlipwayError('invalid_params', `${i.path.join('.') || 'build'}: ${i.message}`, { details: parsed.error.issues });
      }
      const req = parsed.data;
      const now = Date.now();
      const rec: BuildRecord = {
        id: newBuildId(now), app: req.app.name, appId: req.app.id, commit: req.commit, state: 'pending',
        slug: null, processTypes: {}, buildpacks: [], stack: DEFAULT_STACK, createdBy: req.createdBy ?? null,
        createdAt: new Date(now).toISOString(), startedAt: null, finishedAt: null, durationMs: null, failure: null,
      };
      const ahead = await store.create(rec, { sourceTar: req.sourceTar, config: req.config, ...(req.buildpackUrl ? { buildpackUrl: req.buildpackUrl } : {}) });
      if (ahead === 0) await startJob(rec.appId, rec.id);
      else await store.appendLog(rec.appId, rec.id, 'system', [`waiting for ${ahead} earlier build${ahead > 1 ? 's' : ''} of ${rec.app} to finish`]);
      log.info({ build: rec.id, app: rec.app, commit: rec.commit, ahead }, 'build queued');
      return { buildId: rec.id, build: rec, position: await store.position(rec.appId, rec.id) };
    },
    getBuild: (id) => store.find(id),
    async position(id) {
      const rec = await must(id);
      return store.position(rec.appId, id);
    },
    followLog(id, fo = {}) {
      return {
        async *[Symbol.asyncIterator]() {
          const rec = await must(id);
          const conn = redis.duplicate();
          followers.add(conn);
          const onAbort = () => conn.disconnect();
          fo.signal?.addEventListener('abort', onAbort);
          let after = fo.after ?? '0';
          try {
            while (!fo.signal?.aborted) {
              const r = await store.readLog(rec.appId, id, { after, blockMs: 1000, redis: conn });
              after = r.last;
              for (const l of r.lines) yield l;
              if (r.ended) return;
              // A build whose record ended without a marker (its worker died at the wrong moment).
              if (!r.lines.length) {
                const now = await store.get(rec.appId, id);
                if (!now || TERMINAL.has(now.state)) {
                  const rest = await store.readLog(rec.appId, id, { after });
                  for (const l of rest.lines) yield l;
                  return;
                }
              }
            }
          } catch (err) {
            if (!fo.signal?.aborted) throw err;
          } finally {
            fo.signal?.removeEventListener('abort', onAbort);
            followers.delete(conn);
            conn.disconnect();
          }
        },
      };
    },
    async waitForBuild(id, wo = {}) {
      const end = Date.now() + (wo.timeoutMs ?? 30 * 60_000);
      const rec = await must(id);
      let after = '$';
      const conn = redis.duplicate();
      followers.add(conn);
      try {
        for (;;) {
          const now = await store.get(rec.appId, id);
          if (!now) throw new SlipwayError('not_found', `no build ${id}`);
          if (TERMINAL.has(now.state)) return now;
          if (wo.signal?.aborted) throw new SlipwayError('unavailable', 'aborted');
          if (Date.now() > end) throw new SlipwayError('unavailable', `build ${id} still ${now.state}`);
          // Wake on the next log entry (the end marker is one) or after a second.
          after = (await store.readLog(rec.appId, id, { after, blockMs: 1000, redis: conn })).last;
        }
      } finally {
        followers.delete(conn);
        conn.disconnect();
      }
    },
    async cancelBuild(id) {
      const rec = await must(id);
      if (TERMINAL.has(rec.state)) return rec;
      if (rec.state === 'pending') {
        const now = new Date();
        const done: BuildRecord = { ...rec, state: 'cancelled', finishedAt: now.toISOString(), durationMs: 0, failure: { code: 'cancelled', message: 'the build was cancelled before it started' } };
        if (await store.transition(done, ['pending'])) {
          await store.appendLog(rec.appId, id, 'system', ['build cancelled']);
          await store.endLog(rec.appId, id, 'cancelled');
          await bull.remove(id).catch(() => 0);
          const next = await store.leaveQueue(rec.appId, id);
          if (next) await startJob(rec.appId, next);
          log.info({ build: id, app: rec.app }, 'queued build cancelled');
          return done;
        }
      }
      await store.requestCancel(rec.appId, id);
      log.info({ build: id, app: rec.app }, 'cancel requested');
      return (await store.get(rec.appId, id)) ?? rec;
    },
    async close() {
      for (const c of followers) c.disconnect();
      await bull.close();
      if (owned) redis.disconnect();
    },
  };
  return q;
}
