// Builds in Redis, under the controller's layout (`ctl:app:<appId>:…`, so they go with the app):
// the record (state beside the JSON, changed only by compare-and-set), the app's FIFO of builds
// (its head is the one running or next: one build at a time per app), the log stream, and the
// cancel channel. Used by the queue (producer), the worker and the controller's builds routes.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LuaScript } from '../../layer0/discovery/client.ts';
import { SlipwayError } from '../../layer0/common/errors.ts';
import { envBytes, envInt, formatBytes } from '../../layer0/common/settings.ts';
import { BuildRecordSchema, TERMINAL, type BuildLogLine, type BuildPosition, type BuildRecord, type BuildState } from './types.ts';

export const KEY_PREFIX = 'ctl:';
/** Lines kept per build log (the stream is trimmed approximately beyond this). */
export const LOG_MAX_LINES = 20_000;
/** Build records kept per app (older ones and their logs go when a new build is made). */
export const BUILDS_KEPT = 100;

/** What one app's build logs may hold in Redis: bytes per build, and how many builds keep their log. */
export interface BuildLogLimits {
  /** SLIPWAY_BUILD_LOG_MAX_BYTES (default 4 MiB): a build's output beyond it is cut (one line says so). */
  maxBytes: number;
  /** SLIPWAY_BUILD_LOGS_KEPT (default 10): older builds keep their record, not their log. */
  logsKept: number;
}

export function buildLogLimits(env: NodeJS.ProcessEnv = process.env): BuildLogLimits {
  return {
    maxBytes: envBytes(env, 'SLIPWAY_BUILD_LOG_MAX_BYTES', 4 * 2 ** 20, { min: 64 * 1024 }),
    logsKept: envInt(env, 'SLIPWAY_BUILD_LOGS_KEPT', 10, { min: 1, max: BUILDS_KEPT }),
  };
}

/** Bytes counted per build log line beyond its text. */
const LINE_OVERHEAD = 24;

// Appends lines to a build's log within its byte budget (counted in the build's hash, `logBytes`).
// Output past the budget is dropped after one line saying so; `system` lines (the platform's own,
// a few per build) always go in. Nothing is written for a build whose hash is gone (app deleted).
// KEYS[1] the log stream, KEYS[2] the build hash; ARGV[1] maxLines, ARGV[2] maxBytes, ARGV[3] the
// stream, ARGV[4] the truncation notice, ARGV[5…] the lines.
const APPEND_LOG = new LuaScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local maxBytes = tonumber(ARGV[2])
local sys = ARGV[3] == 'system'
local used = tonumber(redis.call('HGET', KEYS[2], 'logBytes') or '0')
local cut = redis.call('HGET', KEYS[2], 'logCut')
local added = 0
for i = 5, #ARGV do
  local n = #ARGV[i] + ${LINE_OVERHEAD}
  if not sys then
    if cut then break end
    if used + added + n > maxBytes then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', 'system', 'l', ARGV[4])
      redis.call('HSET', KEYS[2], 'logCut', '1')
      break
    end
  end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', ARGV[3], 'l', ARGV[i])
  added = added + n
end
if added > 0 then redis.call('HINCRBY', KEYS[2], 'logBytes', added) end
return added
`);

/** `b_` + 9 base-36 digits of ms + 8 hex: sorts by creation time. */
export function newBuildId(now = Date.now()): string {
  return `b_${now.toString(36).padStart(9, '0')}${randomBytes(4).toString('hex')}`;
}

// KEYS[1] the build hash; ARGV[1] allowed states (comma-separated), ARGV[2] the new state, ARGV[3] the record JSON.
const TRANSITION = new LuaScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return -1 end
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == st then
    redis.call('HSET', KEYS[1], 'state', ARGV[2], 'record', ARGV[3])
    return 1
  end
end
return 0
`);

// The build leaves its app's queue; returns the new head when it was the head (it must be started).
// KEYS[1] the app's queue, KEYS[2] the set of apps with queued builds; ARGV[1] build id, ARGV[2] app id.
const LEAVE_QUEUE = new LuaScript(`
local head = redis.call('LINDEX', KEYS[1], 0)
if head == ARGV[1] then
  redis.call('LPOP', KEYS[1])
  local nxt = redis.call('LINDEX', KEYS[1], 0)
  if not nxt then redis.call('SREM', KEYS[2], ARGV[2]) return false end
  return nxt
end
redis.call('LREM', KEYS[1], 0, ARGV[1])
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return false
`);

export interface StoredRequest {
  sourceTar: { path: string } | { blobId: string };
  config: Record<string, string>;
  buildpackUrl?: string;
}

export class BuildStore {
  constructor(readonly redis: Redis, readonly prefix: string = KEY_PREFIX, readonly limits: BuildLogLimits = buildLogLimits()) {}

  /** Hash build id → app id (find a build by id alone). */
  get index() { return `${this.prefix}builds`; }
  /** Set of app ids whose queue is not empty (the worker's resync walks it). */
  get queues() { return `${this.prefix}build-queues`; }
  /** Pub/sub channel of build ids to cancel. */
  get cancelChannel() { return `${this.prefix}builds:cancel`; }
  appBuilds(appId: string) { return `${this.prefix}app:${appId}:builds`; }
  queue(appId: string) { return `${this.prefix}app:${appId}:build-queue`; }
  build(appId: string, id: string) { return `${this.prefix}app:${appId}:build:${id}`; }
  log(appId: string, id: string) { return `${this.prefix}app:${appId}:build:${id}:log`; }

  /** Stores a new pending build and queues it behind the app's others; resolves with how many are ahead. */
  async create(rec: BuildRecord, req: StoredRequest): Promise<number> {
    const res = await this.redis.multi()
      .hset(this.build(rec.appId, rec.id), 'state', rec.state, 'record', JSON.stringify(rec), 'request', JSON.stringify(req))
      .zadd(this.appBuilds(rec.appId), Date.parse(rec.createdAt), rec.id)
      .hset(this.index, rec.id, rec.appId)
      .rpush(this.queue(rec.appId), rec.id)
      .sadd(this.queues, rec.appId)
      .exec();
    const len = res?.[3]?.[1];
    if (typeof len !== 'number') throw new SlipwayError('unavailable', 'could not queue the build');
    await this.trim(rec.appId);
    return len - 1;
  }

  /** Drops the app's oldest ended builds beyond BUILDS_KEPT (never one still queued), and the logs of all but the newest `logsKept`. */
  private async trim(appId: string): Promise<void> {
    const unlogged = await this.redis.zrange(this.appBuilds(appId), '0', String(-(this.limits.logsKept + 1)));
    for (const id of unlogged) {
      const st = await this.redis.hget(this.build(appId, id), 'state');
      if (st && TERMINAL.has(st as BuildState)) await this.redis.unlink(this.log(appId, id));
    }
    const old = await this.redis.zrange(this.appBuilds(appId), '0', String(-(BUILDS_KEPT + 1)));
    for (const id of old) {
      const st = await this.redis.hget(this.build(appId, id), 'state');
      if (st && !TERMINAL.has(st as BuildState)) continue;
      await this.redis.multi().del(this.build(appId, id), this.log(appId, id)).zrem(this.appBuilds(appId), id).hdel(this.index, id).exec();
    }
  }

  async appOf(id: string): Promise<string | null> {
    return this.redis.hget(this.index, id);
  }

  async get(appId: string, id: string): Promise<BuildRecord | null> {
    const raw = await this.redis.hget(this.build(appId, id), 'record');
    return raw ? BuildRecordSchema.parse(JSON.parse(raw)) : null;
  }

  /** A build by id alone (through the index); null when unknown or its app is gone. */
  async find(id: string): Promise<BuildRecord | null> {
    const appId = await this.appOf(id);
    return appId ? this.get(appId, id) : null;
  }

  async request(appId: string, id: string): Promise<StoredRequest | null> {
    const raw = await this.redis.hget(this.build(appId, id), 'request');
    return raw ? (JSON.parse(raw) as StoredRequest) : null;
  }

  /** The app's builds, newest first; `after` is the `next` of the previous page. */
  async list(appId: string, o: { limit?: number; after?: string } = {}): Promise<{ items: BuildRecord[]; next: string | null }> {
    const limit = o.limit ?? 100;
    let max = '+inf';
    if (o.after !== undefined) {
      const score = await this.redis.zscore(this.appBuilds(appId), o.after);
      if (score === null) throw new SlipwayError('invalid_params', 'after: not a build cursor');
      max = `(${score}`;
    }
    // Ids sort by time; equal scores (same ms) are rare and only reorder within a page.
    const ids = await this.redis.zrevrangebyscore(this.appBuilds(appId), max, '-inf', 'LIMIT', 0, limit + 1);
    const page = ids.slice(0, limit);
    const raws = page.length ? await this.redis.multi(page.map((id) => ['hget', this.build(appId, id), 'record'])).exec() : [];
    const items = (raws ?? []).flatMap(([, raw]) => (typeof raw === 'string' ? [BuildRecordSchema.parse(JSON.parse(raw))] : []));
    return { items, next: ids.length > limit ? page[page.length - 1]! : null };
  }

  /** Compare-and-set of the state: true when the build was in one of `from`. */
  async transition(rec: BuildRecord, from: BuildState[]): Promise<boolean> {
    const r = await TRANSITION.run(this.redis, [this.build(rec.appId, rec.id)], [from.join(','), rec.state, JSON.stringify(rec)]);
    return r === 1;
  }

  /** The build leaves its app's queue (any end); resolves with the build to start next, if any. */
  async leaveQueue(appId: string, id: string): Promise<string | null> {
    await this.redis.hdel(this.build(appId, id), 'request');
    return (await LEAVE_QUEUE.run(this.redis, [this.queue(appId), this.queues], [id, appId])) as string | null;
  }

  async queueHead(appId: string): Promise<string | null> {
    return this.redis.lindex(this.queue(appId), 0);
  }

  async queuedApps(): Promise<string[]> {
    return this.redis.smembers(this.queues);
  }

  async position(appId: string, id: string): Promise<BuildPosition> {
    const [st, ids] = await Promise.all([this.redis.hget(this.build(appId, id), 'state'), this.redis.lrange(this.queue(appId), 0, -1)]);
    if (!st) throw new SlipwayError('not_found', `no build ${id}`);
    const at = ids.indexOf(id);
    return { state: st as BuildState, ahead: Math.max(0, at), blockedBy: at > 0 ? ids[0]! : null };
  }

  async isCancelRequested(appId: string, id: string): Promise<boolean> {
    return (await this.redis.hget(this.build(appId, id), 'cancel')) === '1';
  }

  /** Marks the build for cancellation and tells every worker (the one running it kills its container). */
  async requestCancel(appId: string, id: string): Promise<void> {
    await this.redis.hset(this.build(appId, id), 'cancel', '1');
    await this.redis.publish(this.cancelChannel, id);
  }

  /** Appends output within the build's log budget (beyond it, one notice and nothing more but `system` lines). */
  async appendLog(appId: string, id: string, stream: BuildLogLine['stream'], lines: string[]): Promise<void> {
    if (!lines.length) return;
    const notice = `build output cut here: over ${formatBytes(this.limits.maxBytes)} (the platform's SLIPWAY_BUILD_LOG_MAX_BYTES); the build goes on`;
    await APPEND_LOG.run(this.redis, [this.log(appId, id), this.build(appId, id)], [LOG_MAX_LINES, this.limits.maxBytes, stream, notice, ...lines]);
  }

  /** The log's end marker: followers stop at it. */
  async endLog(appId: string, id: string, state: BuildState): Promise<void> {
    await this.redis.xadd(this.log(appId, id), 'MAXLEN', '~', String(LOG_MAX_LINES), '*', 'end', state);
  }

  /**
   * Log entries after `after` ('0' from the start); `blockMs` waits for new ones (needs a
   * connection of its own: XREAD BLOCK holds it). `ended` once the end marker was read.
   */
  async readLog(appId: string, id: string, o: { after?: string; count?: number; blockMs?: number; redis?: Redis } = {}): Promise<{ lines: BuildLogLine[]; last: string; ended: BuildState | null }> {
    const r = o.redis ?? this.redis;
    const after = o.after ?? '0';
    const args: (string | number)[] = ['COUNT', o.count ?? 1000];
    if (o.blockMs !== undefined) args.push('BLOCK', o.blockMs);
    const res = (await (r.xread as (...a: (string | number)[]) => Promise<unknown>)(...args, 'STREAMS', this.log(appId, id), after)) as [string, [string, string[]][]][] | null;
    const lines: BuildLogLine[] = [];
    let last = after;
    let ended: BuildState | null = null;
    for (const [entryId, fields] of res?.[0]?.[1] ?? []) {
      last = entryId;
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      if (f.end) {
        ended = f.end as BuildState;
        break;
      }
      lines.push({ id: entryId, stream: (f.s ?? 'stdout') as BuildLogLine['stream'], line: f.l ?? '' });
    }
    return { lines, last, ended };
  }

  /** Removes every build key of an app that is not under its prefix (the index); the rest goes with the app. */
  async forgetApp(appId: string): Promise<void> {
    const ids = await this.redis.zrange(this.appBuilds(appId), '0', '-1');
    if (ids.length) await this.redis.hdel(this.index, ...ids);
    await this.redis.srem(this.queues, appId);
  }
}
