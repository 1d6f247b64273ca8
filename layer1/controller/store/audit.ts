// The audit log: one Redis Stream of mutating calls (who, which route, which app, when, the
// outcome, the request id), refused tokens (API, dashboard, git) and git pushes, newest read
// first. Never holds bodies nor a refused token, so never a secret.
import type { Redis } from 'ioredis';
import type { AuditEntry } from '../types.ts';
import { Keys } from './keys.ts';

export const AUDIT_MAX_LEN = 100_000;

export class AuditStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  async append(e: Omit<AuditEntry, 'id' | 'at' | 'event'> & { event?: AuditEntry['event'] }): Promise<void> {
    await this.redis.xadd(this.keys.audit, 'MAXLEN', '~', AUDIT_MAX_LEN, '*',
      'at', new Date().toISOString(), 'user', e.user, 'tokenId', e.tokenId, 'method', e.method, 'route', e.route,
      'path', e.path, 'app', e.app ?? '', 'status', String(e.status), 'requestId', e.requestId, 'event', e.event ?? 'call');
  }

  /** Newest first; `after` is the id of the last entry of the previous page; `app` filters by app name. */
  async list(limit: number, after?: string, app?: string): Promise<{ items: AuditEntry[]; next: string | null }> {
    const items: AuditEntry[] = [];
    let end = after === undefined ? '+' : `(${after}`;
    for (;;) {
      const batch = await this.redis.xrevrange(this.keys.audit, end, '-', 'COUNT', Math.max(limit * 2, 100));
      for (const [id, flat] of batch) {
        const f: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]] = flat[i + 1];
        if (app !== undefined && f.app !== app) continue;
        if (items.length === limit) return { items, next: items[items.length - 1].id };
        items.push({ id, at: f.at, user: f.user, tokenId: f.tokenId, method: f.method, route: f.route, path: f.path, app: f.app || null, status: Number(f.status), requestId: f.requestId, event: (f.event as AuditEntry['event'] | undefined) ?? 'call' });
      }
      if (batch.length === 0) return { items, next: null };
      end = `(${batch[batch.length - 1][0]}`;
    }
  }
}
