// What the controller (and tests) use to read an app's logs and metrics and manage its log
// settings and drains: all Redis-side, keyed by the app's stable id. Streams are async iterables.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../layer0/common/errors.ts';
import { formatBytes } from '../../layer0/common/settings.ts';
import { lastStreamId, matches, toLogLine, type LogFilter } from './entries.ts';
import { drainKind, drainPolicy } from './drains.ts';
import { TRIM_NOW } from './budget.ts';
import { checkUrl } from '../../layer0/common/url-policy.ts';
import { LATENCY_BUCKETS_MS, LogKeys, logLimits, parseSettings, type Drain, type LogLimits, type LogLine, type LogSettings, type ProcessSample, type RouterSample } from './types.ts';

export interface ReadOptions extends LogFilter {
  /** Lines before the present (default 100); 0 with `follow`: only new lines. */
  tail?: number;
  /** Only lines from this time (ms since the epoch) on. */
  sinceMs?: number;
  /** Stop once the lines' messages reach this many bytes (the newest are kept; `truncated` says so). */
  maxBytes?: number;
}

export interface ProcessMetrics {
  id: string;
  type: string;
  process: string;
  release: string;
  host: string;
  status: string;
  startedAt: string;
  cpuPercent: number;
  memoryBytes: number;
  memoryLimit: number;
  restarts: number;
  /** Oldest first: `[time ms, cpu %, memory bytes]`. */
  history: [number, number, number][];
}

export interface AppMetrics {
  since: string;
  processes: ProcessMetrics[];
  router: {
    requests: number;
    /** Requests per second over the window. */
    rate: number;
    classes: Record<string, number>;
    latencyMs: { p50: number | null; p95: number | null; p99: number | null; mean: number | null };
    /** Oldest first: `[time ms, requests]` per sample. */
    history: [number, number][];
  };
}

/** Percentile from histogram counts (upper bounds LATENCY_BUCKETS_MS, then +Inf), interpolated inside the bucket. */
export function percentile(buckets: number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (!total) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (seen + n >= rank && n > 0) {
      const lo = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1]!;
      const hi = LATENCY_BUCKETS_MS[i] ?? lo * 2;
      return Math.round((lo + ((rank - seen) / n) * (hi - lo)) * 10) / 10;
    }
    seen += n;
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]!;
}

export class LogsClient {
  readonly keys: LogKeys;
  constructor(readonly redis: Redis, prefix = 'ctl:', readonly limits: LogLimits = logLimits()) {
    this.keys = new LogKeys(prefix);
  }

  /** The newest `tail` matching lines (from `sinceMs` when given), oldest first, and the stream id to follow from. */
  async read(appId: string, o: ReadOptions = {}): Promise<{ lines: LogLine[]; last: string; truncated: boolean }> {
    const key = this.keys.logs(appId);
    const tail = o.tail ?? 100;
    const lastId = await lastStreamId(this.redis, key);
    if (tail === 0) return { lines: [], last: lastId, truncated: false };
    const maxBytes = o.maxBytes ?? Infinity;
    let bytes = 0;
    let truncated = false;
    const min = o.sinceMs !== undefined ? `${Math.max(0, Math.floor(o.sinceMs))}-0` : '-';
    const out: LogLine[] = [];
    // From `lastId` back, not from '+': a line written since that read comes with the follow after `last`, not twice.
    let end: string | null = lastId === '0-0' ? null : lastId;
    // Backwards in chunks until enough lines match, bounded so a rare filter cannot scan forever.
    let scanned = 0;
    while (end !== null && out.length < tail && !truncated && scanned < 500_000) {
      // Chunks small enough that 64 KiB lines do not make one huge reply.
      const count = Math.min(5000, Math.max(200, tail * 2), Math.max(16, Math.floor(maxBytes / 65536)));
      const rows = await this.redis.xrevrange(key, end, min, 'COUNT', count);
      if (!rows.length) break;
      scanned += rows.length;
      for (const [id, f] of rows) {
        const l = toLogLine(id, f);
        if (matches(l, o)) {
          bytes += Buffer.byteLength(l.message);
          if (bytes > maxBytes) {
            truncated = true;
            break;
          }
          out.push(l);
        }
        if (out.length >= tail) break;
      }
      end = `(${rows[rows.length - 1]![0]}`;
      if (rows.length < count) break;
    }
    return { lines: out.reverse(), last: lastId, truncated };
  }

  /** Lines after stream id `after`, as they arrive (each read's matching lines at once; an empty batch when idle for `blockMs`), until `signal` aborts. Uses its own connection. */
  async *follow(appId: string, after: string, o: LogFilter & { signal?: AbortSignal; blockMs?: number } = {}): AsyncGenerator<LogLine[]> {
    const key = this.keys.logs(appId);
    const reader = this.redis.duplicate();
    reader.on('error', () => undefined);
    const onAbort = () => reader.disconnect();
    o.signal?.addEventListener('abort', onAbort);
    let last = after;
    try {
      while (!o.signal?.aborted) {
        let res: [string, [string, string[]][]][] | null;
        try {
          res = (await reader.xread('COUNT', 1000, 'BLOCK', o.blockMs ?? 15_000, 'STREAMS', key, last)) as typeof res;
        } catch (err) {
          if (o.signal?.aborted) return;
          throw err;
        }
        const rows = res?.[0]?.[1] ?? [];
        const out: LogLine[] = [];
        for (const [id, f] of rows) {
          last = id;
          const l = toLogLine(id, f);
          if (matches(l, o)) out.push(l);
        }
        // An empty batch after a quiet `blockMs`: the caller may send a keep-alive and re-check access.
        if (out.length || !rows.length) yield out;
      }
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
      reader.disconnect();
    }
  }

  async settings(appId: string): Promise<LogSettings> {
    return parseSettings(await this.redis.hgetall(this.keys.settings(appId)), this.limits);
  }

  /** The bytes the app's stream holds, as its writers count them. */
  async bytes(appId: string): Promise<number> {
    return Number(await this.redis.get(this.keys.logBytes(appId))) || 0;
  }

  /** Sets retention and trims at once (the shipper's cached settings follow within seconds); beyond the operator's caps is 422. */
  async setSettings(appId: string, s: Partial<LogSettings>): Promise<LogSettings> {
    if (s.maxLines !== undefined && s.maxLines > this.limits.maxLines) {
      throw new SlipwayError('unprocessable', `maxLines: at most ${this.limits.maxLines} on this platform (the operator's SLIPWAY_LOG_MAX_LINES)`);
    }
    if (s.maxBytes !== undefined && s.maxBytes > this.limits.maxBytes) {
      throw new SlipwayError('unprocessable', `maxBytes: at most ${this.limits.maxBytes} (${formatBytes(this.limits.maxBytes)}) on this platform (the operator's SLIPWAY_LOG_MAX_BYTES)`);
    }
    const next = { ...(await this.settings(appId)), ...s };
    await this.redis.hset(this.keys.settings(appId), { maxLines: String(next.maxLines), maxAgeSec: String(next.maxAgeSec), maxBytes: String(next.maxBytes) });
    await this.trim(appId, next);
    return next;
  }

  /** Trims the app's stream to its settings now (lines, age, bytes); resolves with the bytes kept. */
  async trim(appId: string, s?: LogSettings): Promise<number> {
    const set = s ?? (await this.settings(appId));
    return Number(await TRIM_NOW.run(this.redis, [this.keys.logs(appId), this.keys.logBytes(appId)], [set.maxLines, Math.max(0, Date.now() - set.maxAgeSec * 1000), set.maxBytes]));
  }

  async listDrains(appId: string): Promise<Drain[]> {
    const all = Object.values(await this.redis.hgetall(this.keys.drains(appId))).map((j) => JSON.parse(j) as Drain);
    return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Adds a drain that starts at the present; `syslog://host:port`, `http(s)://…`. */
  async addDrain(appId: string, url: string, createdBy?: string): Promise<Drain> {
    if (!drainKind(url)) throw new SlipwayError('invalid_params', 'url: a drain is syslog://host:port or an http(s):// URL');
    await checkUrl(url, drainPolicy(), 'url'); // 422 for loopback, link-local and private addresses (M6); checked again at connect
    const existing = await this.listDrains(appId);
    if (existing.some((d) => d.url === url)) throw new SlipwayError('conflict', `the app already drains to ${redactUrl(url)}`);
    if (existing.length >= 10) throw new SlipwayError('conflict', 'an app has at most 10 drains');
    const d: Drain = { id: `drn_${randomBytes(6).toString('hex')}`, url, createdAt: new Date().toISOString(), ...(createdBy ? { createdBy } : {}) };
    const last = await lastStreamId(this.redis, this.keys.logs(appId));
    await this.redis.multi()
      .hset(this.keys.drains(appId), d.id, JSON.stringify(d))
      .hset(this.keys.drainCursors(appId), d.id, last)
      .sadd(this.keys.drainApps, appId)
      .exec();
    return d;
  }

  async removeDrain(appId: string, id: string): Promise<boolean> {
    const [[, n]] = (await this.redis.multi().hdel(this.keys.drains(appId), id).hdel(this.keys.drainCursors(appId), id).exec()) as [[unknown, number], unknown];
    return n === 1;
  }

  async metrics(appId: string, sinceMs: number): Promise<AppMetrics> {
    const start = `${Math.max(0, Math.floor(sinceMs))}-0`;
    const [ps, rs] = await Promise.all([
      this.redis.xrange(this.keys.procMetrics(appId), start, '+'),
      this.redis.xrange(this.keys.routerMetrics(appId), start, '+'),
    ]);
    const procs = new Map<string, ProcessMetrics>();
    for (const [, f] of ps) {
      const i = f.indexOf('p');
      const samples = JSON.parse(f[i + 1] ?? '[]') as ProcessSample[];
      for (const s of samples) {
        let p = procs.get(s.id);
        if (!p) procs.set(s.id, (p = { ...s, history: [] }));
        Object.assign(p, { ...s, history: p.history });
        p.history.push([s.t, s.cpuPercent, s.memoryBytes]);
      }
    }
    // A process whose last sample is much older than the newest is gone.
    const newest = Math.max(0, ...[...procs.values()].map((p) => p.history[p.history.length - 1]?.[0] ?? 0));
    const processes = [...procs.values()].filter((p) => newest - p.history[p.history.length - 1]![0] <= 15_000)
      .map(({ t: _t, ...p }: ProcessMetrics & { t?: number }) => p)
      .sort((a, b) => a.process.localeCompare(b.process, 'en', { numeric: true }));
    const buckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    const classes: Record<string, number> = {};
    let requests = 0;
    let sum = 0;
    const history: [number, number][] = [];
    for (const [, f] of rs) {
      const s = JSON.parse(f[f.indexOf('r') + 1] ?? '{}') as RouterSample;
      requests += s.requests;
      sum += s.durationMsSum;
      for (const [k, v] of Object.entries(s.classes)) classes[k] = (classes[k] ?? 0) + v;
      s.buckets.forEach((n, i) => (buckets[i]! += n));
      history.push([s.t, s.requests]);
    }
    const windowSec = Math.max(1, (Date.now() - sinceMs) / 1000);
    return {
      since: new Date(sinceMs).toISOString(),
      processes,
      router: {
        requests, rate: Math.round((requests / windowSec) * 100) / 100, classes,
        latencyMs: { p50: percentile(buckets, 0.5), p95: percentile(buckets, 0.95), p99: percentile(buckets, 0.99), mean: requests ? Math.round((sum / requests) * 10) / 10 : null },
        history,
      },
    };
  }
}

/** A URL without its password (drains may carry credentials). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
