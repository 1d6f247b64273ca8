// API tokens in Redis, keyed by the sha256 of their secret (the secret itself is never
// stored). authenticate() is the per-request path: one Lua call that reads the token and
// its user and touches lastUsedAt at most once a minute.
import type { Redis } from 'ioredis';
import type { TokenRole } from '../types.ts';
import { hashToken, newTokenSecret } from '../auth/token.ts';
import { Keys, Script, fromFlat, nonEmpty, page, timeId } from './keys.ts';

export const LAST_USED_RESOLUTION_MS = 60_000;

export interface TokenRecord {
  id: string;
  userId: string;
  role: TokenRole;
  /** '' for a token that reaches every app of its user. */
  appId: string;
  description: string;
  createdAt: string;
  /** Milliseconds since the epoch, '' when never used. */
  lastUsedAt: string;
}

// KEYS: token. ARGV: now (ms), key prefix, resolution (ms). Returns [token, user] or nil.
const AUTHENTICATE = new Script(`
local t = redis.call('HGETALL', KEYS[1])
if #t == 0 then return nil end
local uid, last
for i = 1, #t, 2 do
  if t[i] == 'userId' then uid = t[i + 1] elseif t[i] == 'lastUsedAt' then last = tonumber(t[i + 1]) end
end
local u = redis.call('HGETALL', ARGV[2] .. 'user:' .. uid)
if #u == 0 then return nil end
local now = tonumber(ARGV[1])
if not last or now - last >= tonumber(ARGV[3]) then redis.call('HSET', KEYS[1], 'lastUsedAt', ARGV[1]) end
return { t, u }
`);

// KEYS: tokenIds. ARGV: id, key prefix. 0 = no such token.
const REVOKE = new Script(`
local h = redis.call('HGET', KEYS[1], ARGV[1])
if not h then return 0 end
local key = ARGV[2] .. 'token:' .. h
local uid = redis.call('HGET', key, 'userId')
local app = redis.call('HGET', key, 'appId')
if uid then redis.call('SREM', ARGV[2] .. 'user:' .. uid .. ':tokens', ARGV[1]) end
if app and app ~= '' then redis.call('SREM', ARGV[2] .. 'app:' .. app .. ':tokens', ARGV[1]) end
redis.call('DEL', key)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`);

export class TokenStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  /** Makes a token; the returned secret exists nowhere else. */
  async create(t: { userId: string; role: TokenRole; appId: string | null; description: string }): Promise<{ secret: string; record: TokenRecord }> {
    const k = this.keys;
    const secret = newTokenSecret();
    const hash = hashToken(secret);
    const record: TokenRecord = { id: timeId('tok'), userId: t.userId, role: t.role, appId: t.appId ?? '', description: t.description, createdAt: new Date().toISOString(), lastUsedAt: '' };
    const m = this.redis.multi().hset(k.token(hash), record).hset(k.tokenIds, record.id, hash).sadd(k.userTokens(t.userId), record.id);
    if (t.appId) m.sadd(k.appTokens(t.appId), record.id);
    await m.exec();
    return { secret, record };
  }

  async authenticate(secret: string): Promise<{ token: TokenRecord; user: Record<string, string> } | null> {
    const r = (await AUTHENTICATE.run(this.redis, [this.keys.token(hashToken(secret))], [Date.now(), this.keys.prefix, LAST_USED_RESOLUTION_MS])) as [unknown, unknown] | null;
    const token = r && fromFlat(r[0]);
    const user = r && fromFlat(r[1]);
    return token && user ? { token: token as unknown as TokenRecord, user } : null;
  }

  async get(id: string): Promise<TokenRecord | null> {
    const hash = await this.redis.hget(this.keys.tokenIds, id);
    return hash ? (nonEmpty(await this.redis.hgetall(this.keys.token(hash))) as TokenRecord | null) : null;
  }

  async revoke(id: string): Promise<boolean> {
    return (await REVOKE.run(this.redis, [this.keys.tokenIds], [id, this.keys.prefix])) === 1;
  }

  /** A page of one user's tokens (or everyone's when userId is null), oldest first. */
  async list(userId: string | null, limit: number, after?: string): Promise<{ items: TokenRecord[]; next: string | null }> {
    const ids = userId === null ? await this.redis.hkeys(this.keys.tokenIds) : await this.redis.smembers(this.keys.userTokens(userId));
    const p = page(ids.sort(), (id) => id, limit, after);
    const records = await Promise.all(p.items.map((id) => this.get(id)));
    return { items: records.filter((r): r is TokenRecord => r !== null), next: p.next };
  }
}
