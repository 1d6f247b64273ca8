// Apps in Redis: a hash per app under its stable id, a name → id index that makes names
// unique, and a name-ordered set for listing. Create, rename and delete are single Lua scripts.
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { App, AppRole } from '../types.ts';
import { Keys, Script, fromFlat, nonEmpty, page, timeId } from './keys.ts';

// KEYS: names, index, app, appAccess, userApps. ARGV: name, id, userId, createdBy, now.
const CREATE = new Script(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('HSET', KEYS[3], 'id', ARGV[2], 'name', ARGV[1], 'createdAt', ARGV[5], 'updatedAt', ARGV[5], 'createdBy', ARGV[4])
redis.call('HSET', KEYS[4], ARGV[3], 'owner')
redis.call('HSET', KEYS[5], ARGV[2], 'owner')
return 1
`);

// KEYS: names, index, app. ARGV: id, old name, new name, now. 0 = name taken, -1 = app gone.
const RENAME = new Script(`
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[1] then return -1 end
if ARGV[2] == ARGV[3] then return 1 end
if redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
redis.call('HSET', KEYS[3], 'name', ARGV[3], 'updatedAt', ARGV[4])
return 1
`);

// KEYS: names, index, app, appAccess, appTokens, tokenIds. ARGV: id, name, key prefix.
// Drops the app's grants (both directions) and the tokens limited to it.
const DELETE = new Script(`
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
for _, uid in ipairs(redis.call('HKEYS', KEYS[4])) do
  redis.call('HDEL', ARGV[3] .. 'user:' .. uid .. ':apps', ARGV[1])
end
for _, tid in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  local h = redis.call('HGET', KEYS[6], tid)
  if h then
    local uid = redis.call('HGET', ARGV[3] .. 'token:' .. h, 'userId')
    if uid then redis.call('SREM', ARGV[3] .. 'user:' .. uid .. ':tokens', tid) end
    redis.call('DEL', ARGV[3] .. 'token:' .. h)
    redis.call('HDEL', KEYS[6], tid)
  end
end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
return 1
`);

// KEYS: names. ARGV: name, key prefix, user id. Returns [app hash flat, grant or false].
const RESOLVE = new Script(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return nil end
local app = redis.call('HGETALL', ARGV[2] .. 'app:' .. id)
if #app == 0 then return nil end
return { app, redis.call('HGET', ARGV[2] .. 'app:' .. id .. ':access', ARGV[3]) }
`);

export class AppStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  /** Creates an app owned by its creator; `conflict` when the name is taken. */
  async create(name: string, creator: { id: string; name: string }): Promise<App> {
    const k = this.keys;
    const id = timeId('app');
    const now = new Date().toISOString();
    const ok = await CREATE.run(this.redis, [k.appNames, k.appIndex, k.app(id), k.appAccess(id), k.userApps(creator.id)], [name, id, creator.id, creator.name, now]);
    if (ok !== 1) throw new SlipwayError('conflict', `the name ${name} is taken`);
    return { id, name, createdAt: now, updatedAt: now, createdBy: creator.name };
  }

  /** The app by name and the user's grant on it, in one round trip (the per-request path). */
  async resolve(name: string, userId: string): Promise<{ app: App; grant: AppRole | null } | null> {
    const r = (await RESOLVE.run(this.redis, [this.keys.appNames], [name, this.keys.prefix, userId])) as [unknown, string | null] | null;
    const app = r && fromFlat(r[0]);
    return app ? { app: app as unknown as App, grant: (r[1] || null) as AppRole | null } : null;
  }

  async get(id: string): Promise<App | null> {
    return nonEmpty(await this.redis.hgetall(this.keys.app(id))) as App | null;
  }

  async rename(app: App, name: string): Promise<App> {
    const k = this.keys;
    const now = new Date().toISOString();
    const r = await RENAME.run(this.redis, [k.appNames, k.appIndex, k.app(app.id)], [app.id, app.name, name, now]);
    if (r === 0) throw new SlipwayError('conflict', `the name ${name} is taken`);
    if (r === -1) throw new SlipwayError('app_not_found', `app ${app.name} was renamed or deleted meanwhile`);
    return name === app.name ? app : { ...app, name, updatedAt: now };
  }

  /** Removes the app, its grants, its tokens and every key under its prefix; frees the name. */
  async delete(app: App): Promise<void> {
    const k = this.keys;
    await DELETE.run(this.redis, [k.appNames, k.appIndex, k.app(app.id), k.appAccess(app.id), k.appTokens(app.id), k.tokenIds], [app.id, app.name, k.prefix]);
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', `${k.appPrefix(app.id)}*`, 'COUNT', 500);
      if (found.length) await this.redis.unlink(...found);
      cursor = next;
    } while (cursor !== '0');
  }

  /** A page of every app, in name order. */
  async listAll(limit: number, after?: string): Promise<{ items: App[]; next: string | null }> {
    const k = this.keys;
    const names = await this.redis.zrangebylex(k.appIndex, after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, limit + 1);
    const more = names.length > limit;
    const ids = names.length ? await this.redis.hmget(k.appNames, ...names.slice(0, limit)) : [];
    const apps = await this.#load(ids.filter((x): x is string => x !== null));
    return { items: apps, next: more && apps.length ? names[limit - 1] : null };
  }

  /** A page of the given apps (by id), in name order. */
  async listSome(ids: string[], limit: number, after?: string): Promise<{ items: App[]; next: string | null }> {
    const apps = (await this.#load(ids)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return page(apps, (a) => a.name, limit, after);
  }

  async #load(ids: string[]): Promise<App[]> {
    if (!ids.length) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.keys.app(id));
    const res = (await pipe.exec()) ?? [];
    return res.map(([, h]) => nonEmpty(h as Record<string, string>) as App | null).filter((a): a is App => a !== null);
  }
}
