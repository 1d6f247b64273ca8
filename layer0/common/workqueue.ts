// The one shape of every reconcile loop (STYLE.md §7, after client-go's workqueue): events only
// add keys; a key is queued once however often it is added, at most one reconcile per key runs
// at a time (a key added while it runs is run again after), failures retry with per-key
// exponential back-off up to a cap, a periodic resync re-adds every key, and an AbortSignal
// stops it all. Time comes from a Clock so tests drive it with a fake one (test/helpers/fake-clock.ts)
// and no sleeps.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What a reconcile may ask for besides success: to be looked at again after a while. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

export interface WorkQueueOptions<K> {
  reconcile(key: K, signal: AbortSignal): Promise<ReconcileResult | void>;
  /** Different keys reconciled side by side (default 1). */
  concurrency?: number;
  /** Back-off of a failing key: baseMs × 2^(failures-1), at most maxMs (defaults 200 ms, 30 s). */
  backoff?: { baseMs: number; maxMs: number };
  /** Every `everyMs`, `keys()` is added whole (level-triggered safety net). */
  resync?: { everyMs: number; keys(): Iterable<K> | Promise<Iterable<K>>; onError?(err: unknown): void };
  onError?(key: K, err: unknown, failures: number, retryInMs: number): void;
  clock?: Clock;
  signal?: AbortSignal;
}

export class WorkQueue<K> {
  private readonly queue: K[] = [];
  private readonly queued = new Set<K>();
  private readonly active = new Set<K>();
  /** Keys added while they were being reconciled: run again when that ends. */
  private readonly dirty = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly delayed = new Map<K, { at: number; handle: unknown }>();
  private readonly clock: Clock;
  private readonly ac = new AbortController();
  private resyncHandle: unknown = null;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly o: WorkQueueOptions<K>) {
    this.clock = o.clock ?? systemClock;
    if (o.signal) {
      if (o.signal.aborted) this.ac.abort();
      else o.signal.addEventListener('abort', () => this.close(), { once: true });
    }
    if (o.resync) this.scheduleResync();
  }

  get closed(): boolean {
    return this.ac.signal.aborted;
  }

  /** Keys waiting or running. */
  get size(): number {
    return this.queued.size + this.active.size;
  }

  /** Queues a key now (a delayed add of the same key is superseded). */
  add(key: K): void {
    if (this.closed) return;
    this.cancelDelayed(key);
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Queues a key after `ms`; an earlier pending add of it wins. */
  addAfter(key: K, ms: number): void {
    if (this.closed) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.clock.clearTimeout(pending.handle);
    const handle = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, handle });
  }

  /** Forgets a key's failure count (its next failure starts the back-off again). */
  forget(key: K): void {
    this.failures.delete(key);
  }

  /** Failures in a row of a key (0 once it succeeded). */
  failuresOf(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves when nothing is queued or running (delayed adds do not count). */
  idle(): Promise<void> {
    if (this.size === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    if (this.closed) return;
    this.ac.abort();
    for (const { handle } of this.delayed.values()) this.clock.clearTimeout(handle);
    this.delayed.clear();
    if (this.resyncHandle !== null) this.clock.clearTimeout(this.resyncHandle);
    this.queue.length = 0;
    this.queued.clear();
    this.dirty.clear();
    this.wakeIdle();
  }

  private backoffMs(failures: number): number {
    const { baseMs, maxMs } = this.o.backoff ?? { baseMs: 200, maxMs: 30_000 };
    return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
  }

  private cancelDelayed(key: K): void {
    const pending = this.delayed.get(key);
    if (!pending) return;
    this.clock.clearTimeout(pending.handle);
    this.delayed.delete(key);
  }

  private pump(): void {
    const limit = this.o.concurrency ?? 1;
    while (!this.closed && this.active.size < limit && this.queue.length > 0) {
      const key = this.queue.shift() as K;
      this.queued.delete(key);
      this.active.add(key);
      void this.run(key);
    }
  }

  private async run(key: K): Promise<void> {
    let requeueAfter: number | undefined;
    try {
      const result = await this.o.reconcile(key, this.ac.signal);
      this.failures.delete(key);
      requeueAfter = result?.requeueAfterMs;
    } catch (err) {
      if (!this.closed) {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        requeueAfter = this.backoffMs(n);
        this.o.onError?.(key, err, n, requeueAfter);
      }
    } finally {
      this.active.delete(key);
    }
    if (this.closed) return this.wakeIdle();
    if (this.dirty.delete(key) && this.failuresOf(key) === 0) this.add(key);
    else if (requeueAfter !== undefined) this.addAfter(key, requeueAfter);
    // A key dirtied while it failed waits out its back-off rather than hammering.
    this.pump();
    if (this.size === 0) this.wakeIdle();
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private scheduleResync(): void {
    const r = this.o.resync!;
    this.resyncHandle = this.clock.setTimeout(async () => {
      if (this.closed) return;
      try {
        for (const key of await r.keys()) this.add(key);
      } catch (err) {
        r.onError?.(err);
      }
      if (!this.closed) this.scheduleResync();
    }, r.everyMs);
  }
}
