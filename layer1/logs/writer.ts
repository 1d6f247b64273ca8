// The shipper's way into Redis: a bounded queue per app and one flush loop that takes at most
// `batch` entries of each app per round (a chatty app cannot starve a quiet one), writing each
// app's batch with one Lua script (its lines, its trimming by lines, age and bytes, and the cursors of the containers whose
// lines it holds: stored together or not at all, so a crash neither loses nor repeats a line).
import type { Redis } from 'ioredis';
import type { Logger } from '../../layer0/common/logger.ts';
import { TRIM_LUA } from './budget.ts';
import { logLimits, parseSettings, type LogKeys, type LogLimits, type LogSettings } from './types.ts';

/** One stream entry to add: its fields, and the container cursor it completes (if any). */
export interface Entry {
  fields: string[];
  cursor?: { container: string; value: string };
}

interface AppQueue {
  appId: string;
  items: Entry[];
  head: number;
  /** Producers waiting for room. */
  waiters: (() => void)[];
  flushing: boolean;
}

export interface WriterStats {
  written: number;
  dropped: number;
  batches: number;
  queued: number;
}

export interface WriterOptions {
  /** Entries queued per app before producers wait (container output) or lines are dropped (router). */
  maxQueue?: number;
  /** Entries per app per round. */
  batch?: number;
  settingsTtlMs?: number;
  /** Bytes of fields per app per round (a batch of 64 KiB lines must not be one 64 MiB script call). */
  batchBytes?: number;
  /** The operator's caps (default: from the environment). */
  limits?: LogLimits;
}

// KEYS[1] the app's stream, KEYS[2] the cursors hash, KEYS[3] the app's hash (lines of a deleted app are dropped), KEYS[4]
// the stream's byte counter; ARGV: entry count, then per entry its field count and fields; then maxLines, the minimum
// time (ms), maxBytes, the cursor count and container → cursor pairs.
const BATCH_LUA = `${TRIM_LUA}
local key = KEYS[1]
-- A deleted app's last lines (its processes stopping) must not bring its stream back.
local live = redis.call('EXISTS', KEYS[3]) == 1
local i = 2
local added = 0
local n = tonumber(ARGV[1])
for e = 1, n do
  local c = tonumber(ARGV[i])
  if live then
    redis.call('XADD', key, '*', unpack(ARGV, i + 1, i + c))
    added = added + OVERHEAD
    for j = i + 1, i + c do added = added + #ARGV[j] end
  end
  i = i + c + 1
end
if live then trimLog(key, KEYS[4], tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), added, n) end
local nc = tonumber(ARGV[i + 3])
i = i + 4
for c = 1, nc do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
return 1
`;

interface BatchRedis {
  slipwayLogBatch(stream: string, cursors: string, app: string, bytes: string, ...args: (string | number)[]): Promise<number>;
}

export class LogWriter {
  private readonly queues = new Map<string, AppQueue>();
  private readonly settings = new Map<string, { value: LogSettings; at: number }>();
  private readonly maxQueue: number;
  private readonly batch: number;
  private readonly settingsTtlMs: number;
  private readonly batchBytes: number;
  private readonly limits: LogLimits;
  private wake: (() => void) | null = null;
  private closed = false;
  private readonly loop: Promise<void>;
  private idle: (() => void)[] = [];
  readonly stats: WriterStats = { written: 0, dropped: 0, batches: 0, queued: 0 };

  constructor(private readonly redis: Redis, private readonly keys: LogKeys, private readonly log: Logger, o: WriterOptions = {}) {
    this.maxQueue = o.maxQueue ?? 20_000;
    this.batch = o.batch ?? 1000;
    this.settingsTtlMs = o.settingsTtlMs ?? 5000;
    this.batchBytes = o.batchBytes ?? 4 * 2 ** 20;
    this.limits = o.limits ?? logLimits();
    if (!(redis as unknown as Partial<BatchRedis>).slipwayLogBatch) redis.defineCommand('slipwayLogBatch', { numberOfKeys: 4, lua: BATCH_LUA });
    this.loop = this.run();
  }

  private queue(appId: string): AppQueue {
    let q = this.queues.get(appId);
    if (!q) this.queues.set(appId, (q = { appId, items: [], head: 0, waiters: [], flushing: false }));
    return q;
  }

  private size(q: AppQueue) {
    return q.items.length - q.head;
  }

  /** Queues entries in order; waits while the app's queue is full (back-pressure on the container's log stream). */
  async push(appId: string, entries: Entry[]): Promise<void> {
    const q = this.queue(appId);
    while (this.size(q) >= this.maxQueue && !this.closed) await new Promise<void>((r) => q.waiters.push(r));
    for (const e of entries) q.items.push(e);
    this.stats.queued += entries.length;
    this.wake?.();
  }

  /** Queues entries unless the app's queue is full (router lines: the router never waits); false when dropped. */
  offer(appId: string, entries: Entry[]): boolean {
    const q = this.queue(appId);
    if (this.size(q) >= this.maxQueue) {
      this.stats.dropped += entries.length;
      return false;
    }
    for (const e of entries) q.items.push(e);
    this.stats.queued += entries.length;
    this.wake?.();
    return true;
  }

  /** Resolves once everything queued so far is written. */
  async drained(): Promise<void> {
    if ([...this.queues.values()].every((q) => this.size(q) === 0 && !q.flushing)) return;
    await new Promise<void>((r) => this.idle.push(r));
  }

  private async settingsOf(appId: string): Promise<LogSettings> {
    const c = this.settings.get(appId);
    if (c && Date.now() - c.at < this.settingsTtlMs) return c.value;
    const value = parseSettings(await this.redis.hgetall(this.keys.settings(appId)), this.limits);
    this.settings.set(appId, { value, at: Date.now() });
    return value;
  }

  private async flushApp(q: AppQueue): Promise<void> {
    let n = 0;
    // At most `batch` entries and about `batchBytes` of fields (at least one entry).
    for (let bytes = 0, end = Math.min(this.size(q), this.batch); n < end && (n === 0 || bytes < this.batchBytes); n++) {
      for (const f of q.items[q.head + n]!.fields) bytes += f.length;
    }
    const take = q.items.slice(q.head, q.head + n);
    const s = await this.settingsOf(q.appId);
    const key = this.keys.logs(q.appId);
    const cursors = new Map<string, string>();
    for (const e of take) if (e.cursor) cursors.set(e.cursor.container, e.cursor.value);
    // One script call per batch (atomic like MULTI, one command instead of one per line).
    const args: (string | number)[] = [take.length];
    for (const e of take) args.push(e.fields.length, ...e.fields);
    // Exact trimming once per batch: `~` only drops whole stream nodes, which keeps far more
    // than asked on a small stream; one exact trim per batch costs little.
    args.push(s.maxLines, Math.max(0, Date.now() - s.maxAgeSec * 1000), s.maxBytes, cursors.size);
    for (const [c, v] of cursors) args.push(c, v);
    for (;;) {
      try {
        await (this.redis as unknown as BatchRedis).slipwayLogBatch(key, this.keys.cursors, this.keys.app(q.appId), this.keys.logBytes(q.appId), ...args);
        break;
      } catch (err) {
        if (this.closed) throw err;
        this.log.warn({ err, app: q.appId }, 'log write failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    q.head += n;
    this.stats.written += n;
    this.stats.batches++;
    if (q.head > 4096 && q.head * 2 > q.items.length) {
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
    if (this.size(q) < this.maxQueue) for (const w of q.waiters.splice(0)) w();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const ready = [...this.queues.values()].filter((q) => this.size(q) > 0);
      if (!ready.length) {
        for (const r of this.idle.splice(0)) r();
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
        continue;
      }
      // One round: every app with lines gets one batch, all sent together.
      await Promise.all(ready.map(async (q) => {
        q.flushing = true;
        try {
          await this.flushApp(q);
        } finally {
          q.flushing = false;
        }
      })).catch((err) => {
        if (!this.closed) this.log.error({ err }, 'log flush failed');
      });
      for (const q of ready) if (this.size(q) === 0 && !q.waiters.length) this.queues.delete(q.appId);
    }
  }

  /** Writes what is queued (up to `timeoutMs`), then stops. */
  async close(timeoutMs = 5000): Promise<void> {
    await Promise.race([this.drained(), new Promise((r) => setTimeout(r, timeoutMs))]);
    this.closed = true;
    this.wake?.();
    for (const q of this.queues.values()) for (const w of q.waiters.splice(0)) w();
    await this.loop.catch(() => undefined);
  }
}
