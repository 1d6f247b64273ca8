// The Discovery client over Redis, used by agents (hosts and jobs register), the scheduler
// (leader election, watching hosts) and the router (watching backends). Every client also
// sweeps expired instances, so no single process has to be alive for expiry to happen.
import type { Redis } from 'ioredis';
import { SlipwayError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { InstanceSchema, type Discovery, type Instance, type Leader, type Leadership, type Registration, type RegisterOptions, type WatchEvent } from './types.ts';
import { Store } from './store.ts';
import { HeartbeatRegistration } from './registration.ts';
import { watchService } from './watch.ts';
import { Campaign, readLeader } from './leader.ts';
import { connectRedis } from './redis.ts';

export { connectRedis, parseRedisUrl, formatRedisUrl, redact, type ConnectOptions, type RedisTarget } from './redis.ts';
export { LuaScript } from './lua.ts';

export const DEFAULT_TTL_MS = 5000;
export const DEFAULT_HEARTBEAT_MS = 1000;
export const DEFAULT_SWEEP_MS = 250;
export const DEFAULT_KEY_PREFIX = 'slipway:';

export interface DiscoveryOptions {
  /** Connect to this URL (the client then owns the connection and closes it). */
  url?: string;
  /** Or use this connection (made by `connectRedis`); `close()` leaves it open. */
  redis?: Redis;
  /** Prefix of every key, so several Slipways can share a Redis (default `slipway:`). */
  keyPrefix?: string;
  log?: Logger;
  /** Expiry sweep period (default 250 ms); 0 disables sweeping in this client. */
  sweepMs?: number;
  /** Defaults for `register` and `campaign`. */
  ttlMs?: number;
  heartbeatMs?: number;
}

export function createDiscovery(opts: DiscoveryOptions): Discovery {
  return new RedisDiscovery(opts);
}

const NAME_RE = /^[a-z0-9][a-z0-9._:-]{0,99}$/;

class RedisDiscovery implements Discovery {
  readonly redis: Redis;
  readonly prefix: string;
  readonly log: Logger;
  readonly #owned: boolean;
  readonly #store: Store;
  readonly #registrations = new Set<HeartbeatRegistration>();
  readonly #campaigns = new Set<Campaign>();
  readonly #closing = new AbortController();
  readonly #ttlMs: number;
  readonly #heartbeatMs: number;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | null = null;

  constructor(opts: DiscoveryOptions) {
    this.log = opts.log ?? silentLogger;
    if (opts.redis) {
      this.redis = opts.redis;
      this.#owned = false;
    } else if (opts.url) {
      this.redis = connectRedis(opts.url, { log: this.log, name: 'slipway-discovery' });
      this.#owned = true;
    } else {
      throw new SlipwayError('invalid_params', 'createDiscovery needs a url or a redis connection');
    }
    this.prefix = opts.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.#store = new Store(this.redis, this.prefix);
    this.#ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
    this.#heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    checkTimings(this.#ttlMs, this.#heartbeatMs);
    const sweepMs = opts.sweepMs ?? DEFAULT_SWEEP_MS;
    if (sweepMs > 0) this.#sweep(sweepMs);
  }

  async register(service: string, instance: { id: string; addr: string; meta?: Record<string, string> }, opts: RegisterOptions = {}): Promise<Registration> {
    this.#open();
    const ttlMs = opts.ttlMs ?? this.#ttlMs;
    const heartbeatMs = opts.heartbeatMs ?? this.#heartbeatMs;
    checkTimings(ttlMs, heartbeatMs);
    const parsed = InstanceSchema.safeParse({ ...instance, service, meta: instance.meta ?? {}, registeredAt: 0 });
    if (!parsed.success) throw new SlipwayError('invalid_params', `bad instance: ${parsed.error.message}`, { details: parsed.error.issues });
    const r = await this.#store.upsert(service, parsed.data, ttlMs);
    const reg = new HeartbeatRegistration(this.#store, { ...parsed.data, registeredAt: r.registeredAt }, ttlMs, heartbeatMs, this.log, (x) =>
      this.#registrations.delete(x),
    );
    this.#registrations.add(reg);
    this.log.info({ service, id: instance.id, addr: instance.addr, change: r.change }, 'registered');
    return reg;
  }

  instances(service: string): Promise<Instance[]> {
    checkName(service, 'service');
    return this.#store.instances(service);
  }

  watch(service: string, signal?: AbortSignal): AsyncIterable<WatchEvent> {
    checkName(service, 'service');
    const sig = signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
    return watchService(this.redis, this.prefix, service, { signal: sig, log: this.log });
  }

  campaign(name: string, candidate: { id: string; meta?: Record<string, string> }, opts: { ttlMs?: number } = {}): Leadership {
    this.#open();
    checkName(name, 'election name');
    if (!candidate.id) throw new SlipwayError('invalid_params', 'a candidate needs an id');
    const ttlMs = opts.ttlMs ?? this.#ttlMs;
    if (!Number.isInteger(ttlMs) || ttlMs < 100) throw new SlipwayError('invalid_params', `leader ttl must be an integer ≥ 100 ms, got ${ttlMs}`);
    const c = new Campaign(this.redis, this.prefix, name, { id: candidate.id, meta: candidate.meta ?? {} }, {
      ttlMs,
      log: this.log,
      onStop: (x) => this.#campaigns.delete(x),
    });
    this.#campaigns.add(c);
    return c;
  }

  leader(name: string): Promise<Leader | null> {
    checkName(name, 'election name');
    return readLeader(this.redis, this.prefix, name);
  }

  /** Stops sweeping, heartbeats (instances then expire by their ttl: deregister first to leave at once), watches; resigns leaderships. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    clearTimeout(this.#sweepTimer);
    const regs = [...this.#registrations];
    for (const r of regs) r.stop();
    // Bounded: with Redis away, heartbeats and sweeps wait in the offline queue indefinitely.
    const bounded = (p: Promise<unknown>) => Promise.race([p, new Promise((r) => setTimeout(r, 1000).unref())]);
    await Promise.all([...[...this.#campaigns].map((c) => c.resign()), bounded(Promise.all([...regs.map((r) => r.settled()), this.#sweeping]))]);
    if (this.#owned) {
      if (this.redis.status === 'ready') await bounded(this.redis.quit().catch(() => undefined));
      this.redis.disconnect();
    }
  }

  #open(): void {
    if (this.#closing.signal.aborted) throw new SlipwayError('unavailable', 'discovery client is closed');
  }

  #sweep(every: number): void {
    this.#sweepTimer = setTimeout(() => {
      this.#sweeping = this.#store
        .sweep()
        .then((n) => void (n && this.log.debug({ expired: n }, 'expired instances')))
        .catch((err: Error) => this.log.debug({ err: err.message }, 'sweep failed'))
        .finally(() => {
          this.#sweeping = null;
          if (!this.#closing.signal.aborted) this.#sweep(every);
        });
    }, every);
  }
}

function checkName(name: string, what: string): void {
  if (!NAME_RE.test(name)) throw new SlipwayError('invalid_params', `bad ${what} ${JSON.stringify(name)}: lowercase letters, digits, . _ : -`);
}

function checkTimings(ttlMs: number, heartbeatMs: number): void {
  if (!Number.isInteger(ttlMs) || !Number.isInteger(heartbeatMs) || heartbeatMs < 10 || ttlMs <= heartbeatMs) {
    throw new SlipwayError('invalid_params', `need integer heartbeat ≥ 10 ms below the ttl, got heartbeat ${heartbeatMs} ms, ttl ${ttlMs} ms`);
  }
}
