// Routes and certificates from the controller (types.ts keys): one consistent read of both
// hashes and the version (MULTI), again on every `changed` message newer than what we hold,
// after every reconnect of the subscriber, and every `resyncMs` when the version moved (a
// message lost while the subscriber was away). Reloads coalesce: at most one in flight.
import type { Redis } from 'ioredis';
import type { Logger } from '../../layer0/common/logger.ts';
import { AppRouteSchema, CertRecordSchema, ROUTER_KEYS, type AppRoute, type CertRecord } from './types.ts';

export interface RouteSnapshot {
  version: number;
  apps: AppRoute[];
  certs: CertRecord[];
}

export interface RouteSourceOptions {
  /** A connection to the controller's Redis (duplicated for the subscription). */
  redis: Redis;
  /** The controller's key prefix (`ctl:`). */
  prefix: string;
  log: Logger;
  onChange(s: RouteSnapshot): void;
  resyncMs?: number;
}

export class RouteSource {
  readonly #o: RouteSourceOptions;
  readonly #sub: Redis;
  #version = -1;
  #loading: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Completed loads, and the time of the last (for /metrics). */
  loads = 0;
  loadedAt = 0;
  failures = 0;

  constructor(o: RouteSourceOptions) {
    this.#o = o;
    this.#sub = o.redis.duplicate();
  }

  get version(): number {
    return this.#version;
  }

  get connected(): boolean {
    return this.#sub.status === 'ready' && this.#o.redis.status === 'ready';
  }

  /** Subscribes, then loads once: resolves when the first routes are in. */
  async start(): Promise<void> {
    const { prefix, log } = this.#o;
    const channel = ROUTER_KEYS.changed(prefix);
    this.#sub.on('message', (ch: string, msg: string) => {
      if (ch === channel && !(Number(msg) <= this.#version)) this.reload();
    });
    let first = true;
    this.#sub.on('ready', () => {
      // ioredis re-subscribes after a reconnect; whatever changed meanwhile is read now.
      if (!first) {
        log.info('route subscription back; reloading');
        this.reload();
      }
      first = false;
    });
    this.#sub.on('error', (err: Error) => log.debug({ err: err.message }, 'route subscription error'));
    await this.#sub.subscribe(channel);
    await this.reload();
    const every = this.#o.resyncMs ?? 30_000;
    const tick = () => {
      this.#timer = setTimeout(() => {
        void this.#o.redis.get(ROUTER_KEYS.version(prefix)).then((v) => {
          if (Number(v ?? 0) !== this.#version) this.reload();
        }, () => undefined).finally(() => !this.#closed && tick());
      }, every);
      this.#timer.unref();
    };
    tick();
  }

  /** Reads everything again (coalesced with a load in flight). */
  reload(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#loading) {
      this.#again = true;
      return this.#loading;
    }
    this.#loading = (async () => {
      try {
        do {
          this.#again = false;
          await this.#load();
        } while (this.#again && !this.#closed);
      } finally {
        this.#loading = null;
      }
    })();
    return this.#loading;
  }

  async #load(): Promise<void> {
    const { redis, prefix, log } = this.#o;
    let res: [Error | null, unknown][] | null;
    try {
      res = await redis.multi().hgetall(ROUTER_KEYS.apps(prefix)).hgetall(ROUTER_KEYS.certs(prefix)).get(ROUTER_KEYS.version(prefix)).exec();
    } catch (err) {
      this.failures++;
      log.warn({ err: (err as Error).message }, 'loading routes failed; keeping the ones held');
      return;
    }
    if (!res || res.some(([e]) => e)) {
      this.failures++;
      return;
    }
    const version = Number(res[2]![1] ?? 0);
    const apps = parseAll(res[0]![1] as Record<string, string>, AppRouteSchema, 'route', log);
    const certs = parseAll(res[1]![1] as Record<string, string>, CertRecordSchema, 'certificate', log);
    this.#version = version;
    this.loads++;
    this.loadedAt = Date.now();
    this.#o.onChange({ version, apps, certs });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#sub.disconnect();
  }
}

function parseAll<T>(hash: Record<string, string>, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, what: string, log: Logger): T[] {
  const out: T[] = [];
  for (const [id, raw] of Object.entries(hash)) {
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      v = undefined;
    }
    const r = schema.safeParse(v);
    if (r.success) out.push(r.data);
    else log.warn({ id }, `unreadable ${what} record; skipped`);
  }
  return out;
}
