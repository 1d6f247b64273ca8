// A Lua script run by EVALSHA, falling back to EVAL after a Redis restart emptied the
// script cache (NOSCRIPT). Used by the store and the leader election.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export class LuaScript {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return await redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

/** Redis server time in ms, so every host uses the same clock for expiries (Redis 7 allows TIME in write scripts). */
export const NOW_LUA = `
local __t = redis.call('TIME')
local now = tonumber(__t[1]) * 1000 + math.floor(tonumber(__t[2]) / 1000)
`;
