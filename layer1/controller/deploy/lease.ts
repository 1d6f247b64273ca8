// One controller at a time runs an app's rollouts: a worker holds the app's lease in Redis
// (SET NX PX, renewed by its holder) while it works the queue. Another controller that is
// kicked for the same app finds the lease taken and leaves the work to its holder; when a
// holder dies, its lease runs out and the next resync (or kick) anywhere takes over.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LuaScript } from '../../../layer0/discovery/client.ts';

// KEYS: the lease. ARGV: holder, ttl ms. 1 when still ours (renewed), 0 when lost.
const RENEW = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

// KEYS: the lease. ARGV: holder. Deletes it only if it is still ours.
const RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

export interface Lease {
  /** Aborted when the lease is lost (a renewal found another holder, or Redis kept failing past the ttl). */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

/** This process's identity as a lease holder (one per controller process). */
export const HOLDER = `${process.pid}-${randomBytes(4).toString('hex')}`;

/** Takes the lease at `key` for `ttlMs` (renewed every ttl/3 until released), or null when someone else holds it. */
export async function acquireLease(redis: Redis, key: string, ttlMs: number, holder = HOLDER): Promise<Lease | null> {
  const ok = await redis.set(key, holder, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;
  const lost = new AbortController();
  let validUntil = Date.now() + ttlMs;
  const timer = setInterval(() => {
    const sent = Date.now();
    RENEW.run(redis, [key], [holder, ttlMs]).then(
      (r) => {
        if (r === 1) validUntil = sent + ttlMs;
        else lost.abort();
      },
      () => {
        if (Date.now() > validUntil) lost.abort();
      },
    );
  }, Math.max(50, Math.floor(ttlMs / 3)));
  timer.unref();
  lost.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  return {
    lost: lost.signal,
    async release() {
      clearInterval(timer);
      if (!lost.signal.aborted) await RELEASE.run(redis, [key], [holder]).catch(() => undefined);
    },
  };
}
