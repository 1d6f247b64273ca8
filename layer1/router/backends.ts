// Backends from discovery: one watch per app service (started when a route names the service,
// stopped when none does), each keeping its BackendPool current. A `down` instance is marked
// draining and dropped from the list at once; the proxy holds its own reference to a backend it
// is using, so requests in flight on it finish.
import type { Logger } from '../../layer0/common/logger.ts';
import type { Discovery, Instance, WatchEvent } from '../../layer0/discovery/index.ts';
import type { Backend, BackendPool } from './types.ts';

interface Watched {
  readonly pool: BackendPool;
  readonly abort: AbortController;
  /** True once the first snapshot arrived. */
  synced: boolean;
  onSynced: () => void;
  readonly firstSync: Promise<void>;
}

/** `host:port`, `[v6]:port` or a URL → where to connect; null when it names no port. */
export function parseAddr(addr: string): { host: string; port: number } | null {
  let host: string;
  let port: string;
  if (addr.includes('://')) {
    try {
      const u = new URL(addr);
      host = u.hostname.replace(/^\[|\]$/g, '');
      port = u.port || (u.protocol === 'https:' ? '443' : '80');
    } catch {
      return null;
    }
  } else {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
    if (!m) return null;
    [, host, port] = m as unknown as [string, string, string];
  }
  const n = Number(port);
  return host && Number.isInteger(n) && n > 0 && n < 65536 ? { host, port: n } : null;
}

function newBackend(i: Instance): Backend | null {
  const a = parseAddr(i.addr);
  return a ? { id: i.id, host: a.host, port: a.port, inflight: 0, ejectedUntil: 0, failures: 0, draining: false } : null;
}

export class Backends {
  readonly #watched = new Map<string, Watched>();
  #closed = false;
  /** Changes applied to pools (for /metrics). */
  changes = 0;

  constructor(private readonly discovery: Discovery, private readonly log: Logger, private readonly retryMs = 1000) {}

  /** The pool of a service, watched from now on (an empty pool until the first snapshot). */
  pool(service: string): BackendPool {
    const w = this.#watched.get(service);
    if (w) return w.pool;
    const pool: BackendPool = { service, backends: [] };
    let onSynced = () => {};
    const firstSync = new Promise<void>((r) => (onSynced = r));
    const watched: Watched = { pool, abort: new AbortController(), synced: false, onSynced, firstSync };
    this.#watched.set(service, watched);
    if (!this.#closed) void this.#follow(watched);
    return pool;
  }

  /** Stops watching every service not in `keep` (an app renamed or deleted). */
  retain(keep: ReadonlySet<string>): void {
    for (const [service, w] of this.#watched) {
      if (keep.has(service)) continue;
      w.abort.abort();
      for (const b of w.pool.backends) b.draining = true;
      w.pool.backends = [];
      this.#watched.delete(service);
    }
  }

  /** Services watched, how many have their first snapshot, and live backends in all. */
  stats(): { services: number; synced: number; backends: number; perService: [string, number][] } {
    let synced = 0;
    let backends = 0;
    const perService: [string, number][] = [];
    for (const [service, w] of this.#watched) {
      if (w.synced) synced++;
      backends += w.pool.backends.length;
      perService.push([service, w.pool.backends.length]);
    }
    return { services: this.#watched.size, synced, backends, perService };
  }

  /** Resolves once every service watched now has its first snapshot (false: not within timeoutMs). */
  async whenSynced(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const all = Promise.all([...this.#watched.values()].map((w) => w.firstSync)).then(() => true);
    try {
      return await Promise.race([all, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watched.values()) w.abort.abort();
  }

  async #follow(w: Watched): Promise<void> {
    const { service } = w.pool;
    while (!w.abort.signal.aborted && !this.#closed) {
      try {
        for await (const ev of this.discovery.watch(service, w.abort.signal)) this.#apply(w, ev);
      } catch (err) {
        if (w.abort.signal.aborted) return;
        // The watch survives Redis reconnects by itself; this is anything else (a bad entry…).
        this.log.warn({ service, err: (err as Error).message }, 'backend watch failed; starting it again');
      }
      if (!w.abort.signal.aborted) await new Promise((r) => setTimeout(r, this.retryMs).unref());
    }
  }

  #apply(w: Watched, ev: WatchEvent): void {
    const pool = w.pool;
    this.changes++;
    if (ev.type === 'current') {
      // A (re)start of the watch: keep the objects of instances still there (their in-flight
      // counts and ejections), drain the ones that are gone.
      const old = new Map(pool.backends.map((b) => [b.id, b]));
      const next: Backend[] = [];
      for (const i of ev.instances) {
        const prev = old.get(i.id);
        const a = parseAddr(i.addr);
        if (prev && a && prev.host === a.host && prev.port === a.port) {
          next.push(prev);
          old.delete(i.id);
        } else {
          const b = newBackend(i);
          if (b) next.push(b);
          else this.log.warn({ service: pool.service, id: i.id, addr: i.addr }, 'instance address has no port; ignored');
        }
      }
      for (const b of old.values()) b.draining = true;
      pool.backends = next;
      if (!w.synced) {
        w.synced = true;
        w.onSynced();
      }
      return;
    }
    const i = ev.instance;
    const prev = pool.backends.find((b) => b.id === i.id);
    if (ev.type === 'down') {
      if (!prev) return;
      prev.draining = true;
      pool.backends = pool.backends.filter((b) => b !== prev);
      return;
    }
    // up / update: a changed address is a new backend (the old one drains).
    const a = parseAddr(i.addr);
    if (prev && a && prev.host === a.host && prev.port === a.port) return;
    const b = newBackend(i);
    if (prev) prev.draining = true;
    const rest = pool.backends.filter((x) => x !== prev);
    pool.backends = b ? [...rest, b] : rest;
    if (!b) this.log.warn({ service: pool.service, id: i.id, addr: i.addr }, 'instance address has no port; ignored');
  }
}
