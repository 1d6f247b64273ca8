// Watching a service: a snapshot and its stream position read in one script, then XREAD BLOCK
// on a dedicated connection. Events carry a gap-free `seq`; a gap (the stream was trimmed past
// us) means a new snapshot whose diff is emitted, so consumers see neither losses nor duplicates.
import type { Redis } from 'ioredis';
import type { Logger } from '../common/logger.ts';
import type { Instance, WatchEvent } from './types.ts';
import { Store, parseInstance } from './store.ts';
import { applyEvent, diffInstances } from './diff.ts';
import { attachLogging } from './redis.ts';

export interface WatchOptions {
  signal?: AbortSignal;
  log: Logger;
  /** XREAD BLOCK timeout; only bounds how long an idle read lasts (default 5000). */
  blockMs?: number;
  /** Entries per read (default 1000). */
  count?: number;
}

/** One stream entry, decoded; `null` for an entry we cannot read (logged and skipped as a gap). */
export function decodeEntry(fields: string[]): { seq: number; event: WatchEvent } | null {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  const type = f.type;
  if ((type !== 'up' && type !== 'update' && type !== 'down') || !f.seq || !f.instance) return null;
  return { seq: Number(f.seq), event: { type, instance: parseInstance(f.instance) } };
}

export async function* watchService(redis: Redis, prefix: string, service: string, opts: WatchOptions): AsyncGenerator<WatchEvent> {
  const { signal, log } = opts;
  if (signal?.aborted) return;
  // A dedicated connection: XREAD BLOCK holds it, and aborting is simply disconnecting it.
  const conn = redis.duplicate();
  attachLogging(conn, log, `watch ${service}`);
  const onAbort = () => conn.disconnect();
  signal?.addEventListener('abort', onAbort, { once: true });
  const store = new Store(conn, prefix);
  const key = store.keys(service).events;
  const view = new Map<string, Instance>();
  try {
    let snap = await store.snapshot(service);
    const current: WatchEvent = { type: 'current', instances: snap.instances };
    applyEvent(view, current);
    yield current;
    let lastId = snap.streamId;
    let lastSeq = snap.seq;
    while (!signal?.aborted) {
      let res: [string, [string, string[]][]][] | null;
      try {
        res = (await conn.xread('COUNT', opts.count ?? 1000, 'BLOCK', opts.blockMs ?? 5000, 'STREAMS', key, lastId)) as typeof res;
      } catch (err) {
        if (signal?.aborted || conn.status === 'end') return;
        log.debug({ err: (err as Error).message, service }, 'watch read failed; retrying');
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (!res) continue;
      let gap = false;
      for (const [id, fields] of res[0]?.[1] ?? []) {
        const entry = decodeEntry(fields);
        if (entry && entry.seq <= lastSeq) {
          lastId = id; // already reflected (cannot happen unless the stream was rewritten)
          continue;
        }
        if (!entry || entry.seq !== lastSeq + 1) {
          gap = true;
          break;
        }
        applyEvent(view, entry.event);
        lastId = id;
        lastSeq = entry.seq;
        yield entry.event;
      }
      if (gap) {
        snap = await store.snapshot(service);
        const events = diffInstances(view.values(), snap.instances);
        log.info({ service, behind: snap.seq - lastSeq, events: events.length }, 'watch fell behind the stream; caught up from a snapshot');
        lastId = snap.streamId;
        lastSeq = snap.seq;
        for (const ev of events) {
          applyEvent(view, ev);
          yield ev;
        }
      }
    }
  } catch (err) {
    if (signal?.aborted || conn.status === 'end') return;
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    conn.disconnect();
  }
}
