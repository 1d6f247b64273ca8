// The router's access records: one `router` line each in the app's log (Heroku's format), and
// per-app counters (requests, status classes, a latency histogram) written every few seconds as
// one sample per app, which the controller sums into rates and percentiles.
import type { Redis } from 'ioredis';
import type { Logger } from '../../layer0/common/logger.ts';
import { LATENCY_BUCKETS_MS, type LogKeys, type RouterSample } from './types.ts';
import type { LogWriter } from './writer.ts';
import type { AccessRecord } from '../router/types.ts';

export function accessMessage(r: AccessRecord): string {
  const path = r.path.length > 2048 ? `${r.path.slice(0, 2048)}…` : r.path;
  return `at=${r.error ? 'error' : 'info'}${r.error ? ` code=${r.error}` : ''} method=${r.method} path="${path.replace(/"/g, '%22')}" host=${r.host} request_id=${r.requestId} ` +
    `backend=${r.backend ?? '-'} status=${r.status} bytes=${r.bytesOut} service=${Math.round(r.durationMs)}ms`;
}

export function bucketOf(ms: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (ms <= LATENCY_BUCKETS_MS[i]!) return i;
  return LATENCY_BUCKETS_MS.length;
}

export class RouterLines {
  private readonly ids = new Map<string, { id: string | null; at: number }>();
  private readonly pending = new Map<string, RouterSample>();
  private readonly resolving = new Map<string, AccessRecord[]>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly redis: Redis, private readonly keys: LogKeys, private readonly writer: LogWriter, private readonly log: Logger, intervalMs = 5000) {
    this.timer = setInterval(() => void this.publish(), intervalMs);
    this.timer.unref();
  }

  /** Called by the router for every request; never waits. */
  record(r: AccessRecord): void {
    if (!r.app) return;
    const c = this.ids.get(r.app);
    if (c && Date.now() - c.at < 10_000) {
      if (c.id) this.add(c.id, r);
      return;
    }
    const waiting = this.resolving.get(r.app);
    if (waiting) {
      if (waiting.length < 10_000) waiting.push(r);
      return;
    }
    const name = r.app;
    this.resolving.set(name, [r]);
    void this.redis.hget(this.keys.appNames, name).then(
      (id) => {
        this.ids.set(name, { id, at: Date.now() });
        const recs = this.resolving.get(name) ?? [];
        this.resolving.delete(name);
        if (id) for (const x of recs) this.add(id, x);
      },
      () => this.resolving.delete(name),
    );
  }

  private add(appId: string, r: AccessRecord): void {
    this.writer.offer(appId, [{ fields: ['t', r.time, 'src', 'router', 'st', String(r.status), 'msg', accessMessage(r)] }]);
    let s = this.pending.get(appId);
    if (!s) this.pending.set(appId, (s = { t: 0, requests: 0, classes: {}, buckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), durationMsSum: 0 }));
    s.requests++;
    const cls = `${Math.floor(r.status / 100)}xx`;
    s.classes[cls] = (s.classes[cls] ?? 0) + 1;
    s.buckets[bucketOf(r.durationMs)]!++;
    s.durationMsSum += r.durationMs;
  }

  /** Writes one sample per app with traffic since the last one (kept an hour). */
  async publish(): Promise<void> {
    if (!this.pending.size) return;
    const now = Date.now();
    const m = this.redis.multi();
    for (const [appId, s] of this.pending) {
      s.t = now;
      const key = this.keys.routerMetrics(appId);
      m.xadd(key, 'MINID', '~', String(now - 3600_000), '*', 'r', JSON.stringify(s));
    }
    this.pending.clear();
    await m.exec().catch((err) => this.log.warn({ err }, 'router metrics not written'));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.publish();
  }
}
