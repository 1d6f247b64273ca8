// Users in Redis: a hash per user under a stable id, a name → id index (unique names), a
// name-ordered set for listing, and the user's grants (user:<id>:apps, mirrored per app).
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { AppRole, User } from '../types.ts';
import { Keys, Script, nonEmpty, timeId } from './keys.ts';

// KEYS: names, index, user. ARGV: name, id, admin, now.
const CREATE = new Script(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('HSET', KEYS[3], 'id', ARGV[2], 'name', ARGV[1], 'admin', ARGV[3], 'createdAt', ARGV[4])
return 1
`);

export function toUser(h: Record<string, string>): User {
  return { id: h.id, name: h.name, admin: h.admin === '1', createdAt: h.createdAt };
}

export class UserStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  async create(name: string, admin: boolean): Promise<User> {
    const k = this.keys;
    const id = timeId('usr');
    const now = new Date().toISOString();
    const ok = await CREATE.run(this.redis, [k.userNames, k.userIndex, k.user(id)], [name, id, admin ? '1' : '0', now]);
    if (ok !== 1) throw new SlipwayError('conflict', `a user named ${name} exists`);
    return { id, name, admin, createdAt: now };
  }

  async byName(name: string): Promise<User | null> {
    const id = await this.redis.hget(this.keys.userNames, name);
    return id ? this.get(id) : null;
  }

  async get(id: string): Promise<User | null> {
    const h = nonEmpty(await this.redis.hgetall(this.keys.user(id)));
    return h && toUser(h);
  }

  /** Names of the given user ids (missing ones left out). */
  async names(ids: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (!ids.length) return out;
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hget(this.keys.user(id), 'name');
    const res = (await pipe.exec()) ?? [];
    res.forEach(([, name], i) => typeof name === 'string' && out.set(ids[i], name));
    return out;
  }

  async list(limit: number, after?: string): Promise<{ items: User[]; next: string | null }> {
    const k = this.keys;
    const names = await this.redis.zrangebylex(k.userIndex, after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, limit + 1);
    const shown = names.slice(0, limit);
    const ids = shown.length ? await this.redis.hmget(k.userNames, ...shown) : [];
    const users = await Promise.all(ids.map((id) => (id ? this.get(id) : null)));
    return { items: users.filter((u): u is User => u !== null), next: names.length > limit ? shown[shown.length - 1] : null };
  }

  /** App id → role for every app the user has been granted. */
  async grants(userId: string): Promise<Record<string, AppRole>> {
    return (await this.redis.hgetall(this.keys.userApps(userId))) as Record<string, AppRole>;
  }
}
