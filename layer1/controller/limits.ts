// What one tenant may hold at once through the API (README "Limits"): apps per owner, one-off
// processes per app, open follow streams (each holds a Redis connection) per app and per token,
// and the bytes of a log tail. Settings from SLIPWAY_… with safe defaults; over a limit is 429.
// Concurrency is counted with leases in Redis (a sorted set per key: member → expiry), so every
// controller of a cluster counts the same, and a controller that dies frees its leases within a TTL.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../layer0/common/errors.ts';
import { envBytes, envInt } from '../../layer0/common/settings.ts';
import { LuaScript } from '../../layer0/discovery/client.ts';

// Redis's clock, so every controller of a cluster judges expiry alike.
const NOW_LUA = `
local __t = redis.call('TIME')
local now = tonumber(__t[1]) * 1000 + math.floor(tonumber(__t[2]) / 1000)
`;

export interface ApiLimits {
  /** SLIPWAY_MAX_APPS_PER_OWNER (default 100): apps a user may create (admins: no limit). */
  appsPerOwner: number;
  /** SLIPWAY_MAX_ONE_OFFS_PER_APP (default 5): one-off processes of an app running at once. */
  oneOffsPerApp: number;
  /** SLIPWAY_MAX_FOLLOWS_PER_APP (default 20): open log and event follows of an app. */
  followsPerApp: number;
  /** SLIPWAY_MAX_FOLLOWS_PER_TOKEN (default 10): open log and event follows of one token. */
  followsPerToken: number;
  /** SLIPWAY_LOG_TAIL_MAX_BYTES (default 8 MiB): a log read's lines stop there (the newest are kept). */
  tailBytes: number;
}

export function apiLimits(env: NodeJS.ProcessEnv = process.env): ApiLimits {
  return {
    appsPerOwner: envInt(env, 'SLIPWAY_MAX_APPS_PER_OWNER', 100, { min: 1 }),
    oneOffsPerApp: envInt(env, 'SLIPWAY_MAX_ONE_OFFS_PER_APP', 5, { min: 1 }),
    followsPerApp: envInt(env, 'SLIPWAY_MAX_FOLLOWS_PER_APP', 20, { min: 1 }),
    followsPerToken: envInt(env, 'SLIPWAY_MAX_FOLLOWS_PER_TOKEN', 10, { min: 1 }),
    tailBytes: envBytes(env, 'SLIPWAY_LOG_TAIL_MAX_BYTES', 8 * 2 ** 20, { min: 64 * 1024 }),
  };
}

// Takes one slot in every key or none. KEYS: the lease sets; ARGV[1] TTL ms, ARGV[2] the lease id,
// ARGV[3…] the limit of each key. Returns 0, or the 1-based index of the first key that is full.
const ACQUIRE = new LuaScript(`${NOW_LUA}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + tonumber(ARGV[1]), ARGV[2])
  redis.call('PEXPIRE', key, tonumber(ARGV[1]) * 2)
end
return 0
`);
// Extends a held lease (only where it is still held). KEYS: the sets; ARGV[1] TTL ms, ARGV[2] the lease id.
const RENEW = new LuaScript(`${NOW_LUA}
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + tonumber(ARGV[1]), ARGV[2])
  redis.call('PEXPIRE', key, tonumber(ARGV[1]) * 2)
end
return 0
`);

export interface Slot {
  /** The Redis set counting it (under the controller's prefix). */
  key: string;
  max: number;
  /** For the 429: "log and event follows of this app". */
  what: string;
  /** The setting that raises it. */
  setting: string;
}

export interface Lease {
  release(): void;
}

/** Concurrency leases: `acquire` takes a slot in each of `slots` (or throws 429 naming the full one); `release` frees them. */
export class Leases {
  constructor(private readonly redis: Redis, private readonly ttlMs = 60_000) {}

  /** `maxMs`: renewed no longer than this (a lease whose release a bug missed still ends). */
  async acquire(slots: Slot[], o: { maxMs?: number } = {}): Promise<Lease> {
    const id = randomBytes(8).toString('hex');
    const keys = slots.map((s) => s.key);
    const full = Number(await ACQUIRE.run(this.redis, keys, [this.ttlMs, id, ...slots.map((s) => s.max)]));
    if (full > 0) {
      const s = slots[full - 1]!;
      throw new SlipwayError('too_many_requests', `too many ${s.what}: at most ${s.max} at once (the platform's ${s.setting}); end one and try again`);
    }
    const until = Date.now() + (o.maxMs ?? Infinity);
    const renew = setInterval(() => {
      if (Date.now() > until) clearInterval(renew);
      else void RENEW.run(this.redis, keys, [this.ttlMs, id]).catch(() => undefined);
    }, this.ttlMs / 3);
    renew.unref();
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        const m = this.redis.multi();
        for (const k of keys) m.zrem(k, id);
        void m.exec().catch(() => undefined);
      },
    };
  }
}

/** The slots a follow takes: its app's (when it follows one app) and its token's. */
export function followSlots(limits: ApiLimits, prefix: string, o: { appId?: string; tokenId: string }): Slot[] {
  return [
    ...(o.appId ? [{ key: `${prefix}app:${o.appId}:follows`, max: limits.followsPerApp, what: 'open log and event follows of this app', setting: 'SLIPWAY_MAX_FOLLOWS_PER_APP' }] : []),
    { key: `${prefix}token:${o.tokenId}:follows`, max: limits.followsPerToken, what: 'open log and event follows of this token', setting: 'SLIPWAY_MAX_FOLLOWS_PER_TOKEN' },
  ];
}

/** The slot a one-off process takes in its app. */
export function oneOffSlot(limits: ApiLimits, prefix: string, appId: string): Slot {
  return { key: `${prefix}app:${appId}:one-offs`, max: limits.oneOffsPerApp, what: 'one-off processes of this app running', setting: 'SLIPWAY_MAX_ONE_OFFS_PER_APP' };
}
