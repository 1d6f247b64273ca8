// Access grants (app, user) → role, kept in both directions (app:<id>:access and
// user:<id>:apps) by Lua, which also refuses to leave an app without an owner.
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { AppRole } from '../types.ts';
import { Keys, Script } from './keys.ts';

// KEYS: appAccess, userApps. ARGV: user id, app id, role ('' removes). -1 = last owner.
const SET = new Script(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur == 'owner' and ARGV[3] ~= 'owner' then
  local owners = 0
  for _, r in ipairs(redis.call('HVALS', KEYS[1])) do if r == 'owner' then owners = owners + 1 end end
  if owners <= 1 then return -1 end
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[2])
  if cur then return 1 else return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
`);

export class AccessStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  async get(appId: string, userId: string): Promise<AppRole | null> {
    return ((await this.redis.hget(this.keys.appAccess(appId), userId)) as AppRole | null) ?? null;
  }

  /** User id → role on the app. */
  async list(appId: string): Promise<Record<string, AppRole>> {
    return (await this.redis.hgetall(this.keys.appAccess(appId))) as Record<string, AppRole>;
  }

  async set(appId: string, userId: string, role: AppRole): Promise<void> {
    await this.#run(appId, userId, role);
  }

  /** False when the user had no grant. */
  async remove(appId: string, userId: string): Promise<boolean> {
    return (await this.#run(appId, userId, '')) === 1;
  }

  async #run(appId: string, userId: string, role: string): Promise<unknown> {
    const r = await SET.run(this.redis, [this.keys.appAccess(appId), this.keys.userApps(userId)], [userId, appId, role]);
    if (r === -1) throw new SlipwayError('conflict', 'an app keeps at least one owner: make another user owner first');
    return r;
  }
}
