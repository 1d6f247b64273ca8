// Instances in Redis: every change (register, update, heartbeat after expiry, deregister,
// expiry) is one Lua script that edits the instance hash and the expiry zset and appends an
// event with a gap-free sequence number to the service's stream. Called by client.ts and watch.ts.
import type { Redis } from 'ioredis';
import { InstanceSchema, type Instance } from './types.ts';
import { LuaScript, NOW_LUA } from './lua.ts';

/** Events kept per service stream; a watcher further behind takes a new snapshot. */
export const STREAM_MAXLEN = 10_000;

export interface ServiceKeys {
  /** hash: instance id → Instance JSON */
  instances: string;
  /** zset: instance id → expiry (ms, Redis time) */
  expiry: string;
  /** stream: `type` (up|update|down), `seq`, `instance` (JSON) */
  events: string;
  /** counter: seq of the newest event */
  seq: string;
  /** zset shared by all services: service → its earliest expiry, so sweepers find work in O(log n) */
  due: string;
}

export function serviceKeys(prefix: string, service: string): ServiceKeys {
  const base = `${prefix}svc:${service}:`;
  return { instances: `${base}instances`, expiry: `${base}expiry`, events: `${base}events`, seq: `${base}seq`, due: `${prefix}due` };
}

const keyList = (k: ServiceKeys) => [k.instances, k.expiry, k.events, k.seq, k.due];

// KEYS: instances, expiry, events, seq, due. ARGV[1] service, ARGV[2] stream maxlen.
const COMMON_LUA = `${NOW_LUA}
local function emit(kind, json)
  local seq = redis.call('INCR', KEYS[4])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'type', kind, 'seq', seq, 'instance', json)
end
local function refreshDue()
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if first[1] then redis.call('ZADD', KEYS[5], first[2], ARGV[1]) else redis.call('ZREM', KEYS[5], ARGV[1]) end
end
`;

// ARGV[3] id, ARGV[4] body (Instance JSON without registeredAt), ARGV[5] ttl ms.
// Registers, updates (when the body changed) or just extends the expiry (a heartbeat).
const UPSERT = new LuaScript(`${COMMON_LUA}
local cur = redis.call('HGET', KEYS[1], ARGV[3])
local body = string.sub(ARGV[4], 2)
local kind = ''
local at = string.format('%.0f', now)
if cur then
  local curAt, rest = string.match(cur, '^{"registeredAt":(%d+),(.*)$')
  at = curAt
  if rest ~= body then kind = 'update' end
else
  kind = 'up'
end
if kind ~= '' then
  local json = '{"registeredAt":' .. at .. ',' .. body
  redis.call('HSET', KEYS[1], ARGV[3], json)
  emit(kind, json)
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[3])
refreshDue()
return {kind, at}
`);

// ARGV[3] id. Returns 1 when the instance existed.
const REMOVE = new LuaScript(`${COMMON_LUA}
local cur = redis.call('HGET', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[3])
if cur then
  redis.call('HDEL', KEYS[1], ARGV[3])
  emit('down', cur)
end
refreshDue()
return cur and 1 or 0
`);

// ARGV[3] max instances to expire in one call. Returns how many expired.
const EXPIRE = new LuaScript(`${COMMON_LUA}
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local cur = redis.call('HGET', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  if cur then
    redis.call('HDEL', KEYS[1], id)
    emit('down', cur)
  end
end
refreshDue()
return #ids
`);

// KEYS[1] due. Services that have at least one expired instance.
const DUE = new LuaScript(`${NOW_LUA}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
`);

// KEYS: instances, events, seq. The instances with the stream position they correspond to.
const SNAPSHOT = new LuaScript(`
local seq = redis.call('GET', KEYS[3]) or '0'
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if last[1] then id = last[1][1] end
return {seq, id, redis.call('HVALS', KEYS[1])}
`);

export interface Snapshot {
  /** Sequence number of the newest event reflected in `instances`. */
  seq: number;
  /** Stream id of that event (`0-0` when there is none yet). */
  streamId: string;
  instances: Instance[];
}

export type UpsertResult = { change: 'up' | 'update' | null; registeredAt: number };

export class Store {
  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {}

  keys(service: string): ServiceKeys {
    return serviceKeys(this.prefix, service);
  }

  /** Register, update or heartbeat: idempotent, so a resend after a reconnect is harmless. */
  async upsert(service: string, inst: { id: string; addr: string; meta: Record<string, string> }, ttlMs: number): Promise<UpsertResult> {
    // Sorted meta keys, so an unchanged instance yields the same body and no `update` event.
    const meta = Object.fromEntries(Object.entries(inst.meta).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const body = JSON.stringify({ id: inst.id, service, addr: inst.addr, meta });
    const [kind, at] = (await UPSERT.run(this.redis, keyList(this.keys(service)), [service, STREAM_MAXLEN, inst.id, body, ttlMs])) as [string, string];
    return { change: kind === 'up' || kind === 'update' ? kind : null, registeredAt: Number(at) };
  }

  async remove(service: string, id: string): Promise<boolean> {
    return (await REMOVE.run(this.redis, keyList(this.keys(service)), [service, STREAM_MAXLEN, id])) === 1;
  }

  async expire(service: string, limit = 500): Promise<number> {
    return (await EXPIRE.run(this.redis, keyList(this.keys(service)), [service, STREAM_MAXLEN, limit])) as number;
  }

  /** One sweep: expires what is due in every service. Any number of clients may sweep at once. */
  async sweep(limit = 100): Promise<number> {
    const services = (await DUE.run(this.redis, [`${this.prefix}due`], [limit])) as string[];
    let n = 0;
    for (const s of services) n += await this.expire(s);
    return n;
  }

  async snapshot(service: string): Promise<Snapshot> {
    const k = this.keys(service);
    const [seq, streamId, vals] = (await SNAPSHOT.run(this.redis, [k.instances, k.events, k.seq], [])) as [string, string, string[]];
    return { seq: Number(seq), streamId, instances: vals.map(parseInstance).sort(byId) };
  }

  async instances(service: string): Promise<Instance[]> {
    const vals = await this.redis.hvals(this.keys(service).instances);
    return vals.map(parseInstance).sort(byId);
  }
}

export function parseInstance(json: string): Instance {
  return InstanceSchema.parse(JSON.parse(json));
}

const byId = (a: Instance, b: Instance) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
