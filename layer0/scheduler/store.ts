// The scheduler's state in Redis: desired formations (a hash), observed jobs (a hash written
// only by the leader), a stream of job changes for watchers, and a wake-up channel that tells
// the leader a formation changed. Everything survives a Redis restart (AOF).
import type { Redis } from '../discovery/redis.ts';
import type { Formation, Job, JobEvent } from './types.ts';

const STREAM_MAXLEN = 10_000;

export class SchedulerStore {
  readonly keys: { formations: string; jobs: string; events: string; wake: string };

  constructor(readonly redis: Redis, keyPrefix = 'slipway:') {
    this.keys = {
      formations: `${keyPrefix}sched:formations`,
      jobs: `${keyPrefix}sched:jobs`,
      events: `${keyPrefix}sched:job-events`,
      wake: `${keyPrefix}sched:wake`,
    };
  }

  async putFormation(f: Formation): Promise<void> {
    await this.redis.multi().hset(this.keys.formations, f.id, JSON.stringify(f)).publish(this.keys.wake, f.id).exec();
  }

  async deleteFormation(id: string): Promise<boolean> {
    const [[, n]] = (await this.redis.multi().hdel(this.keys.formations, id).publish(this.keys.wake, id).exec()) as [[unknown, number]];
    return n > 0;
  }

  async getFormation(id: string): Promise<Formation | null> {
    const raw = await this.redis.hget(this.keys.formations, id);
    return raw ? (JSON.parse(raw) as Formation) : null;
  }

  async formations(): Promise<Formation[]> {
    return Object.values(await this.redis.hgetall(this.keys.formations)).map((v) => JSON.parse(v) as Formation);
  }

  async jobs(): Promise<Job[]> {
    return Object.values(await this.redis.hgetall(this.keys.jobs)).map((v) => JSON.parse(v) as Job);
  }

  /** The leader writes what it observed; only differences reach Redis and the stream. */
  async writeJobs(previous: Map<string, string>, next: Job[]): Promise<Map<string, string>> {
    const now = new Map(next.map((j) => [j.id, JSON.stringify(j)]));
    const tx = this.redis.multi();
    let changes = 0;
    for (const [id, json] of now) {
      if (previous.get(id) === json) continue;
      tx.hset(this.keys.jobs, id, json).xadd(this.keys.events, 'MAXLEN', '~', STREAM_MAXLEN, '*', 'e', JSON.stringify({ type: 'upsert', job: JSON.parse(json) }));
      changes++;
    }
    for (const id of previous.keys()) {
      if (now.has(id)) continue;
      tx.hdel(this.keys.jobs, id).xadd(this.keys.events, 'MAXLEN', '~', STREAM_MAXLEN, '*', 'e', JSON.stringify({ type: 'remove', jobId: id }));
      changes++;
    }
    if (changes) await tx.exec();
    else tx.discard();
    return now;
  }

  /** What Redis holds now, as `writeJobs` compares it (a new leader starts from it). */
  async currentJobJson(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.keys.jobs)));
  }

  /** Current jobs as upserts, then every change; resumes from the last id after a reconnect. */
  async *watch(reader: Redis, signal?: AbortSignal): AsyncGenerator<JobEvent> {
    const [[, all], [, last]] = (await this.redis.multi().hgetall(this.keys.jobs).xrevrange(this.keys.events, '+', '-', 'COUNT', 1).exec()) as [
      [unknown, Record<string, string>], [unknown, [string, string[]][]],
    ];
    for (const v of Object.values(all)) yield { type: 'upsert', job: JSON.parse(v) as Job };
    let id = last[0]?.[0] ?? '0-0';
    const stop = () => reader.disconnect();
    signal?.addEventListener('abort', stop);
    try {
      while (!signal?.aborted) {
        const res = (await reader.xread('COUNT', 500, 'BLOCK', 5000, 'STREAMS', this.keys.events, id).catch(() => null)) as [string, [string, string[]][]][] | null;
        for (const [, entries] of res ?? []) {
          for (const [entryId, fields] of entries) {
            id = entryId;
            yield JSON.parse(fields[1]!) as JobEvent;
          }
        }
      }
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }
}
