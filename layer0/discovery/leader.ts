// Leader election per name: SET NX PX of a value carrying the candidate and its fencing token
// (an INCR taken in the same script), renewed by compare-and-pexpire at ttl/3. A leader that
// cannot renew within its ttl deposes itself before anyone else can be elected. See README.md.
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from '../common/logger.ts';
import type { Leader, Leadership } from './types.ts';
import { LuaScript } from './lua.ts';

// KEYS: leader, token counter. ARGV: candidate id, meta JSON, ttl ms, our previous value ('' if none).
// Returns {1, value, token} when elected, else {0, pttl of the current leader}.
const ACQUIRE = new LuaScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[4] then return {0, redis.call('PTTL', KEYS[1])} end
local token = redis.call('INCR', KEYS[2])
local value = '{"id":' .. cjson.encode(ARGV[1]) .. ',"token":' .. string.format('%d', token) .. ',"meta":' .. ARGV[2] .. '}'
redis.call('SET', KEYS[1], value, 'PX', ARGV[3])
return {1, value, token}
`);

// KEYS: leader. ARGV: our value, ttl ms.
const RENEW = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`);

const RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

export function leaderKeys(prefix: string, name: string) {
  return { leader: `${prefix}leader:${name}`, token: `${prefix}leader:${name}:token` };
}

export async function readLeader(redis: Redis, prefix: string, name: string): Promise<Leader | null> {
  const v = await redis.get(leaderKeys(prefix, name).leader);
  if (!v) return null;
  const { id, token, meta } = JSON.parse(v) as Leader;
  return { id, token, meta };
}

export interface CampaignOptions {
  ttlMs: number;
  log: Logger;
  /** Called once when the campaign is resigned. */
  onStop?: (c: Campaign) => void;
}

/** How long before the lease's end a leader gives up: covers timer lateness and clock rate drift. */
export function safetyMarginMs(ttlMs: number): number {
  return Math.min(250, Math.round(ttlMs / 10));
}

export class Campaign implements Leadership {
  #leader = false;
  #token = 0;
  /** Our value in Redis (kept after deposition so we can re-take a lease that is still ours). */
  #value = '';
  #stopped = false;
  #busy: Promise<void> | null = null;
  #tick: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  readonly #events = new EventEmitter();
  readonly #keys: { leader: string; token: string };

  constructor(
    readonly redis: Redis,
    prefix: string,
    readonly name: string,
    readonly candidate: { id: string; meta: Record<string, string> },
    readonly opts: CampaignOptions,
  ) {
    this.#keys = leaderKeys(prefix, name);
    this.#schedule(0);
  }

  get isLeader(): boolean {
    return this.#leader;
  }
  get token(): number {
    return this.#token;
  }

  on(event: 'elected', fn: (token: number) => void): void;
  on(event: 'deposed', fn: () => void): void;
  on(event: 'elected' | 'deposed', fn: (...args: never[]) => void): void {
    this.#events.on(event, fn as (...args: unknown[]) => void);
  }

  async resign(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.opts.onStop?.(this);
    clearTimeout(this.#tick);
    const value = this.#value;
    const wasLeader = this.#leader;
    this.#depose('resigned');
    // Release the lease so a standby takes over at once, but do not hang on an absent Redis:
    // the lease then simply expires.
    const bounded = <T>(p: Promise<T>) => Promise.race([p, new Promise<void>((r) => setTimeout(r, this.opts.ttlMs).unref())]);
    if (this.#busy) await bounded(this.#busy);
    if (value && wasLeader) {
      await bounded(RELEASE.run(this.redis, [this.#keys.leader], [value])).catch(() => undefined);
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#tick);
    this.#tick = setTimeout(() => {
      this.#busy = (this.#leader ? this.#renew() : this.#acquire()).finally(() => (this.#busy = null));
    }, ms);
  }

  async #acquire(): Promise<void> {
    const ttl = this.opts.ttlMs;
    const sent = performance.now();
    let res: [number, string | number, number?];
    try {
      res = (await ACQUIRE.run(this.redis, [this.#keys.leader, this.#keys.token], [this.candidate.id, JSON.stringify(this.candidate.meta), ttl, this.#value])) as typeof res;
    } catch (err) {
      this.opts.log.debug({ err: (err as Error).message, election: this.name }, 'campaign: acquire failed');
      this.#schedule(Math.round(ttl / 10));
      return;
    }
    if (this.#stopped) {
      if (res[0] === 1) await RELEASE.run(this.redis, [this.#keys.leader], [res[1] as string]).catch(() => undefined);
      return;
    }
    if (res[0] !== 1) {
      // Someone leads: try again just after their lease would end, and at least every ttl/4.
      const pttl = Number(res[1]);
      const wait = pttl > 0 ? Math.min(pttl + 5, ttl / 4) : 5;
      this.#schedule(Math.round(wait * (0.9 + Math.random() * 0.1)));
      return;
    }
    this.#value = res[1] as string;
    this.#token = Number(res[2]);
    this.#leader = true;
    this.#armDeadline(sent);
    this.opts.log.info({ election: this.name, candidate: this.candidate.id, token: this.#token }, 'elected');
    this.#events.emit('elected', this.#token);
    this.#schedule(Math.round(ttl / 3));
  }

  async #renew(): Promise<void> {
    const ttl = this.opts.ttlMs;
    const sent = performance.now();
    let ok: number;
    try {
      ok = (await RENEW.run(this.redis, [this.#keys.leader], [this.#value, ttl])) as number;
    } catch (err) {
      // Keep trying; the deadline deposes us if this lasts.
      this.opts.log.debug({ err: (err as Error).message, election: this.name }, 'campaign: renew failed');
      this.#schedule(Math.round(ttl / 10));
      return;
    }
    if (this.#stopped) return;
    if (ok === 1 && this.#leader) {
      this.#armDeadline(sent);
      this.#schedule(Math.round(ttl / 3));
      return;
    }
    if (ok !== 1) this.#value = '';
    this.#depose(ok === 1 ? 'renewed too late' : 'lease lost');
    this.#schedule(0);
  }

  /** The lease ends at least ttl after the command that set it was sent; we stop leading a little before. */
  #armDeadline(sentAt: number): void {
    clearTimeout(this.#deadline);
    const left = sentAt + this.opts.ttlMs - safetyMarginMs(this.opts.ttlMs) - performance.now();
    this.#deadline = setTimeout(() => {
      if (!this.#leader) return;
      this.#depose('could not renew within the ttl');
      // A renew may still be in flight (Redis away); the loop carries on from it.
    }, Math.max(0, left));
  }

  #depose(why: string): void {
    clearTimeout(this.#deadline);
    if (!this.#leader) return;
    this.#leader = false;
    this.opts.log.warn({ election: this.name, candidate: this.candidate.id, token: this.#token, why }, 'deposed');
    this.#events.emit('deposed');
  }
}
