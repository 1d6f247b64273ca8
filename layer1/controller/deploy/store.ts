// The deploy core's Redis data model (keys `ctl:app:<appId>:…`, layout in README.md): releases
// (immutable JSON, status kept beside them), config, formation, deployments and their queue, and
// the app's event stream. What must be atomic (a config change with its release number and its
// queued rollout) is one Lua script, so concurrent changes never skip, repeat or lose anything.
import { LuaScript } from '../../../layer0/discovery/client.ts';
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import {
  ReleaseSchema,
  type AppEvent,
  type AppFormation,
  type AppRef,
  type Config,
  type ConfigChanges,
  type DeployedState,
  type Deployment,
  type DeploymentKind,
  type DeploymentState,
  type Failure,
  type FormationEntry,
  type Healthchecks,
  type Page,
  type ReleaseBuild,
  type Release,
  type ReleaseStatus,
  type Strategy,
} from './types.ts';

export const KEY_PREFIX = 'ctl:';
/** Events kept per app, and in the platform's stream of all apps' events (the oldest go; trimmed in whole stream nodes). */
export const APP_EVENTS_KEPT = 10_000;
export const EVENTS_KEPT = 100_000;


// KEYS[1] the app's prefix (`…app:<id>:`, which names the app id), KEYS[2] the global event stream; ARGV[1] app name, ARGV[2] now.
const EVENT_LUA = `
local P = KEYS[1]
local APP_ID = string.match(P, 'app:([^:]+):$') or ''
local function event(etype, data)
  local d = cjson.encode(data)
  redis.call('XADD', P .. 'events', 'MAXLEN', '~', ${APP_EVENTS_KEPT}, '*', 'type', etype, 'app', ARGV[1], 'appId', APP_ID, 'at', ARGV[2], 'data', d)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${EVENTS_KEPT}, '*', 'type', etype, 'app', ARGV[1], 'appId', APP_ID, 'at', ARGV[2], 'data', d)
end
`;

/**
 * Optionally makes a release (config changes/replacement applied, version INCR'd, build given or
 * inherited from the newest release that did not fail), then queues a rollout of the app's
 * desired release, superseding the queued one. KEYS[3] the set of apps with rollouts to run.
 * ARGV: 1 name, 2 now, 3 app id, 4 mode (release|enqueue), 5 createdBy, 6 reason, 7 kind,
 * 8 strategy, 9 build JSON or '', 10 config changes JSON or '', 11 config replacement JSON or '',
 * 12 'hold' (release: make it without rolling it out) or the held version (mode promote).
 */
const CHANGE = new LuaScript(`${EVENT_LUA}
local release = nil
if ARGV[4] == 'release' then
  if ARGV[11] ~= '' then
    redis.call('DEL', P .. 'config')
    for k, v in pairs(cjson.decode(ARGV[11])) do redis.call('HSET', P .. 'config', k, v) end
  end
  if ARGV[10] ~= '' then
    for k, v in pairs(cjson.decode(ARGV[10])) do
      if v == cjson.null then redis.call('HDEL', P .. 'config', k) else redis.call('HSET', P .. 'config', k, v) end
    end
  end
  local cfg = {}
  local flat = redis.call('HGETALL', P .. 'config')
  for i = 1, #flat, 2 do cfg[flat[i]] = flat[i + 1] end
  local build
  if ARGV[9] ~= '' then build = cjson.decode(ARGV[9]) else
    build = { image = cjson.null, imageUrl = cjson.null, procfile = {} }
    local top = tonumber(redis.call('GET', P .. 'version') or '0')
    for v = top, 1, -1 do
      local st = redis.call('HGET', P .. 'release-status', tostring(v))
      local s = st and cjson.decode(st)
      if not s or (s.status ~= 'failed' and not s.held) then
        local d = cjson.decode(redis.call('HGET', P .. 'releases', tostring(v)))
        build = { image = d.image, imageUrl = d.imageUrl, imageParent = d.imageParent, build = d.build, healthchecks = d.healthchecks, procfile = d.procfile }
        break
      end
    end
  end
  local version = redis.call('INCR', P .. 'version')
  release = { app = ARGV[1], appId = ARGV[3], version = version, image = build.image, imageUrl = build.imageUrl,
    imageParent = build.imageParent, build = build.build, healthchecks = build.healthchecks,
    procfile = build.procfile, config = cfg, createdBy = ARGV[5], reason = ARGV[6], createdAt = ARGV[2] }
  redis.call('HSET', P .. 'releases', tostring(version), cjson.encode(release))
  event('release.created', { version = version, reason = ARGV[6], createdBy = ARGV[5] })
  if ARGV[12] == 'hold' then
    -- Held for its release phase: not desired, not inherited by config changes, no rollout yet.
    redis.call('HSET', P .. 'release-status', tostring(version), '{"status":"pending","held":true}')
    return { cjson.encode(release), '' }
  end
  redis.call('HSET', P .. 'release-status', tostring(version), '{"status":"pending"}')
  redis.call('SET', P .. 'desired', tostring(version))
end
if ARGV[4] == 'promote' then
  -- A held release whose release phase passed: it becomes the desired one (unless a newer one is).
  local v = ARGV[12]
  local st = redis.call('HGET', P .. 'release-status', v)
  if not st or not cjson.decode(st).held then return { '', '' } end
  redis.call('HSET', P .. 'release-status', v, '{"status":"pending"}')
  local d = tonumber(redis.call('GET', P .. 'desired') or '0')
  if d <= tonumber(v) then redis.call('SET', P .. 'desired', v) end
end
local desired = redis.call('GET', P .. 'desired')
if not desired then return { release and cjson.encode(release) or '', '' } end
local id = tostring(redis.call('INCR', P .. 'deploy-seq'))
local old = redis.call('GET', P .. 'queued')
if old then
  redis.call('HSET', P .. 'deployment:' .. old, 'state', 'superseded', 'supersededBy', id, 'finishedAt', ARGV[2])
  local oldTo = redis.call('HGET', P .. 'deployment:' .. old, 'to')
  if oldTo and oldTo ~= desired then
    local st = redis.call('HGET', P .. 'release-status', oldTo)
    if st and cjson.decode(st).status == 'pending' then redis.call('HSET', P .. 'release-status', oldTo, '{"status":"superseded"}') end
  end
  event('deployment.superseded', { id = old, supersededBy = id })
end
redis.call('HSET', P .. 'deployment:' .. id, 'id', id, 'app', ARGV[1], 'appId', ARGV[3], 'kind', ARGV[7], 'from', '', 'to', desired,
  'strategy', ARGV[8], 'state', 'queued', 'reason', ARGV[6], 'createdBy', ARGV[5], 'createdAt', ARGV[2], 'startedAt', '',
  'finishedAt', '', 'supersededBy', '', 'failure', '')
redis.call('ZADD', P .. 'deployments', tonumber(id), id)
redis.call('SET', P .. 'queued', id)
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
event('deployment.queued', { id = id, to = tonumber(desired), kind = ARGV[7] })
return { release and cjson.encode(release) or '', id }
`);

/** The active rollout (a crashed controller's, to resume) or the queued one made active; ARGV[3] app id. */
const START_NEXT = new LuaScript(`${EVENT_LUA}
local active = redis.call('GET', P .. 'active')
if active then return active end
local q = redis.call('GET', P .. 'queued')
if not q then
  redis.call('HDEL', KEYS[3], ARGV[3])
  return false
end
redis.call('DEL', P .. 'queued')
redis.call('SET', P .. 'active', q)
redis.call('HSET', P .. 'deployment:' .. q, 'state', 'running', 'startedAt', ARGV[2])
event('deployment.running', { id = q })
return q
`);

/**
 * Ends the active rollout (a succeeded one's deployed state and release status were written by
 * serving()). ARGV: 3 id, 4 state, 5 failure JSON or '', 6 release version whose status changes
 * or '', 7 its status JSON, 8/9: when the desired release is still ARGV[8] (it failed), make it
 * ARGV[9] (or none), 10 from version.
 */
const FINISH = new LuaScript(`${EVENT_LUA}
local id = ARGV[3]
redis.call('HSET', P .. 'deployment:' .. id, 'state', ARGV[4], 'finishedAt', ARGV[2], 'failure', ARGV[5], 'from', ARGV[10])
if ARGV[6] ~= '' then redis.call('HSET', P .. 'release-status', ARGV[6], ARGV[7]) end
if ARGV[8] ~= '' and redis.call('GET', P .. 'desired') == ARGV[8] then
  if ARGV[9] ~= '' then redis.call('SET', P .. 'desired', ARGV[9]) else redis.call('DEL', P .. 'desired') end
end
if redis.call('GET', P .. 'active') == id then redis.call('DEL', P .. 'active') end
event('deployment.' .. ARGV[4], { id = id })
return 1
`);

export interface ChangeOptions {
  kind: DeploymentKind;
  reason: string;
  createdBy: string;
  strategy: Strategy;
}

export interface ReleaseInput {
  build?: { image: string | null; imageUrl: string | null; imageParent?: string | null; build?: ReleaseBuild | null; healthchecks?: Healthchecks; procfile: Record<string, string> };
  configChanges?: ConfigChanges;
  configReplace?: Config;
}

export class DeployStore {
  readonly eventsKey: string;
  readonly pendingKey: string;
  constructor(readonly redis: Redis, readonly prefix = KEY_PREFIX) {
    this.eventsKey = `${prefix}events`;
    this.pendingKey = `${prefix}deploy:pending`;
  }

  key(appId: string, rest = ''): string {
    return `${this.prefix}app:${appId}:${rest}`;
  }

  private async change(app: AppRef, mode: 'release' | 'enqueue' | 'promote', o: ChangeOptions, r: ReleaseInput = {}, extra = ''): Promise<{ release: Release | null; deploymentId: string | null }> {
    const now = new Date().toISOString();
    const [rel, id] = (await CHANGE.run(this.redis, [this.key(app.id), this.eventsKey, this.pendingKey], [
      app.name, now, app.id, mode, o.createdBy, o.reason, o.kind, o.strategy,
      r.build ? JSON.stringify(r.build) : '',
      r.configChanges ? JSON.stringify(r.configChanges) : '',
      r.configReplace ? JSON.stringify(r.configReplace) : '',
      extra,
    ])) as [string, string];
    return { release: rel ? ReleaseSchema.parse({ ...fixEmpty(JSON.parse(rel)), status: 'pending' }) : null, deploymentId: id || null };
  }

  /** A new release (and its queued rollout), atomically numbered; `hold`: no rollout until `promote` (a release phase runs first). */
  createRelease(app: AppRef, o: ChangeOptions, r: ReleaseInput, hold = false) {
    return this.change(app, 'release', o, r, hold ? 'hold' : '') as Promise<{ release: Release; deploymentId: string | null }>;
  }

  /** A held release becomes the desired one, and its rollout is queued. */
  async promote(app: AppRef, version: number, o: ChangeOptions): Promise<string | null> {
    return (await this.change(app, 'promote', o, {}, String(version))).deploymentId;
  }

  /** A held release whose release phase failed: it never runs (status failed, with why). */
  async failHeld(app: AppRef, version: number, failure: Failure): Promise<void> {
    await this.redis.hset(this.key(app.id, 'release-status'), String(version), JSON.stringify({ status: 'failed', failure }));
    await this.appendEvent(app, 'release.failed', { version, check: failure.check, message: failure.message });
  }

  /** Queues a rollout of the app's desired release with its current formation; null when the app has no release yet. */
  async enqueue(app: AppRef, o: ChangeOptions): Promise<string | null> {
    return (await this.change(app, 'enqueue', o)).deploymentId;
  }

  async getRelease(appId: string, version: number): Promise<Release | null> {
    const [raw, st] = await this.redis.multi().hget(this.key(appId, 'releases'), String(version)).hget(this.key(appId, 'release-status'), String(version)).exec().then(results) as [string | null, string | null];
    return raw ? toRelease(raw, st) : null;
  }

  /** The release the app should run: the newest one made, unless its rollout failed. */
  async getDesired(appId: string): Promise<number | null> {
    const v = await this.redis.get(this.key(appId, 'desired'));
    return v === null ? null : Number(v);
  }

  async latestVersion(appId: string): Promise<number> {
    return Number((await this.redis.get(this.key(appId, 'version'))) ?? 0);
  }

  /** Newest first; `after` is the previous page's `next` (a version). */
  async listReleases(appId: string, o: { limit?: number; after?: string } = {}): Promise<Page<Release>> {
    const limit = o.limit ?? 100;
    const top = o.after !== undefined ? Number(o.after) - 1 : await this.latestVersion(appId);
    if (!Number.isInteger(top) || top < 0) throw new SlipwayError('invalid_params', 'after: not a release cursor');
    const versions: string[] = [];
    for (let v = top; v >= 1 && versions.length < limit; v--) versions.push(String(v));
    if (!versions.length) return { items: [], next: null };
    const [raws, sts] = await this.redis.multi().hmget(this.key(appId, 'releases'), ...versions).hmget(this.key(appId, 'release-status'), ...versions).exec().then(results) as [(string | null)[], (string | null)[]];
    const items = raws.flatMap((raw, i) => (raw ? [toRelease(raw, sts[i] ?? null)] : []));
    const last = Number(versions[versions.length - 1]);
    return { items, next: last > 1 ? String(last) : null };
  }

  /** Every release's status (version → status), for choosing a rollback target. */
  async releaseStatuses(appId: string): Promise<Map<number, ReleaseStatus>> {
    const all = await this.redis.hgetall(this.key(appId, 'release-status'));
    return new Map(Object.entries(all).map(([v, s]) => [Number(v), (JSON.parse(s) as { status: ReleaseStatus }).status]));
  }

  async getConfig(appId: string): Promise<Config> {
    return this.redis.hgetall(this.key(appId, 'config'));
  }

  async getFormation(appId: string): Promise<AppFormation> {
    const raw = await this.redis.hgetall(this.key(appId, 'formation'));
    return Object.fromEntries(Object.entries(raw).map(([t, v]) => [t, JSON.parse(v) as FormationEntry]));
  }

  async setFormation(appId: string, entries: AppFormation): Promise<void> {
    const flat = Object.entries(entries).flatMap(([t, e]) => [t, JSON.stringify(e)]);
    if (flat.length) await this.redis.hset(this.key(appId, 'formation'), ...flat);
  }

  async getRestarts(appId: string): Promise<Record<string, number>> {
    const raw = await this.redis.hgetall(this.key(appId, 'restarts'));
    return Object.fromEntries(Object.entries(raw).map(([t, n]) => [t, Number(n)]));
  }

  async bumpRestarts(appId: string, types: string[]): Promise<void> {
    const m = this.redis.multi();
    for (const t of types) m.hincrby(this.key(appId, 'restarts'), t, 1);
    await m.exec().then(results);
  }

  async getDeployed(appId: string): Promise<DeployedState> {
    const raw = await this.redis.get(this.key(appId, 'deployed'));
    return raw ? (JSON.parse(raw) as DeployedState) : { release: null, deploymentId: null, groups: {} };
  }

  async getDeployment(appId: string, id: string): Promise<Deployment | null> {
    const [h, log] = await this.redis.multi().hgetall(this.key(appId, `deployment:${id}`)).lrange(this.key(appId, `deployment:${id}:log`), 0, -1).exec().then(results) as [Record<string, string>, string[]];
    if (!h.id) return null;
    return {
      id: h.id,
      app: h.app!,
      appId: h.appId!,
      kind: h.kind as DeploymentKind,
      from: h.from ? Number(h.from) : null,
      to: h.to ? Number(h.to) : null,
      strategy: h.strategy as Strategy,
      state: h.state as DeploymentState,
      reason: h.reason ?? '',
      createdBy: h.createdBy ?? '',
      createdAt: h.createdAt!,
      startedAt: h.startedAt || null,
      finishedAt: h.finishedAt || null,
      supersededBy: h.supersededBy || null,
      failure: h.failure ? (JSON.parse(h.failure) as Failure) : null,
      log,
    };
  }

  /** Newest first; `after` is the previous page's `next`. */
  async listDeployments(appId: string, o: { limit?: number; after?: string } = {}): Promise<Page<Deployment>> {
    const limit = o.limit ?? 100;
    const max = o.after !== undefined ? `(${Number(o.after)}` : '+inf';
    const ids = await this.redis.zrevrangebyscore(this.key(appId, 'deployments'), max, '-inf', 'LIMIT', 0, limit);
    const items = (await Promise.all(ids.map((id) => this.getDeployment(appId, id)))).filter((d): d is Deployment => d !== null);
    return { items, next: ids.length === limit ? ids[ids.length - 1]! : null };
  }

  async appendLog(appId: string, id: string, line: string): Promise<void> {
    await this.redis.rpush(this.key(appId, `deployment:${id}:log`), `${new Date().toISOString()} ${line}`);
  }

  async setDeploymentTo(appId: string, id: string, to: number | null): Promise<void> {
    await this.redis.hset(this.key(appId, `deployment:${id}`), 'to', to === null ? '' : String(to));
  }

  async startNext(app: { id: string; name: string }): Promise<string | null> {
    const id = await START_NEXT.run(this.redis, [this.key(app.id), this.eventsKey, this.pendingKey], [app.name, new Date().toISOString(), app.id]);
    return typeof id === 'string' ? id : null;
  }

  async finish(app: { id: string; name: string }, id: string, o: {
    state: 'succeeded' | 'failed';
    from: number | null;
    failure?: Failure;
    releaseStatus?: { version: number; status: ReleaseStatus; failure?: Failure };
    resetDesired?: { from: number; to: number | null };
  }): Promise<void> {
    const rs = o.releaseStatus;
    await FINISH.run(this.redis, [this.key(app.id), this.eventsKey], [
      app.name, new Date().toISOString(), id, o.state, o.failure ? JSON.stringify(o.failure) : '',
      rs ? String(rs.version) : '', rs ? JSON.stringify({ status: rs.status, ...(rs.failure ? { failure: rs.failure } : {}) }) : '',
      o.resetDesired ? String(o.resetDesired.from) : '', o.resetDesired?.to ? String(o.resetDesired.to) : '',
      o.from === null ? '' : String(o.from),
    ]);
  }

  /** The rollout's new processes serve: its release is the deployed one (before the old processes' drain ends the rollout). */
  async serving(appId: string, deployed: DeployedState, version: number | null): Promise<void> {
    const m = this.redis.multi().set(this.key(appId, 'deployed'), JSON.stringify(deployed));
    if (version !== null) m.hset(this.key(appId, 'release-status'), String(version), JSON.stringify({ status: 'deployed' }));
    await m.exec().then(results);
  }

  /** Formation entries of types not in `types` get count 0 (sizes and checks kept). */
  async zeroMissingTypes(appId: string, types: string[]): Promise<void> {
    const current = await this.getFormation(appId);
    const gone = Object.fromEntries(Object.entries(current).filter(([t, e]) => !types.includes(t) && e.count > 0).map(([t, e]) => [t, { ...e, count: 0 }]));
    await this.setFormation(appId, gone);
  }

  /** Apps with a queued or running rollout (to resume at start): id and name. */
  async hasPending(appId: string): Promise<boolean> {
    return (await this.redis.hexists(this.pendingKey, appId)) === 1;
  }

  async pendingApps(): Promise<{ id: string; name: string }[]> {
    return Object.entries(await this.redis.hgetall(this.pendingKey)).map(([id, name]) => ({ id, name }));
  }

  async appendEvent(app: AppRef, type: string, data: Record<string, unknown>): Promise<void> {
    const fields = ['type', type, 'app', app.name, 'appId', app.id, 'at', new Date().toISOString(), 'data', JSON.stringify(data)];
    await this.redis.multi().xadd(this.key(app.id, 'events'), 'MAXLEN', '~', APP_EVENTS_KEPT, '*', ...fields).xadd(this.eventsKey, 'MAXLEN', '~', EVENTS_KEPT, '*', ...fields).exec().then(results);
  }

  /** The app's events after `after` (a stream id; none = from the start), oldest first. */
  async listEvents(appId: string, o: { after?: string; limit?: number } = {}): Promise<AppEvent[]> {
    const start = o.after ? `(${o.after}` : '-';
    const rows = await this.redis.xrange(this.key(appId, 'events'), start, '+', 'COUNT', o.limit ?? 100);
    return rows.map(([id, f]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i < f.length; i += 2) m[f[i]!] = f[i + 1]!;
      return { id, type: m.type!, app: m.app!, at: m.at!, data: JSON.parse(m.data ?? '{}') as Record<string, unknown> };
    });
  }

  /** Removes every key of the app (after its formation is deleted). */
  async destroy(appId: string): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.key(appId)}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await this.redis.unlink(...keys);
    } while (cursor !== '0');
    await this.redis.hdel(this.pendingKey, appId);
  }
}

/** cjson encodes an empty Lua table as `{}`; the shapes here never hold arrays, so that is right. */
function fixEmpty(r: Record<string, unknown>): Record<string, unknown> {
  return { ...r, procfile: r.procfile ?? {}, config: r.config ?? {}, healthchecks: r.healthchecks ?? {}, image: r.image ?? null, imageUrl: r.imageUrl ?? null, imageParent: r.imageParent ?? null, build: r.build ?? null };
}

function toRelease(raw: string, status: string | null): Release {
  const st = status ? (JSON.parse(status) as { status: ReleaseStatus; failure?: Failure }) : { status: 'pending' as const };
  return ReleaseSchema.parse({ ...fixEmpty(JSON.parse(raw) as Record<string, unknown>), ...st });
}

/** The values of a MULTI's replies, throwing the first error. */
function results(r: [Error | null, unknown][] | null): unknown[] {
  if (!r) throw new SlipwayError('unavailable', 'redis transaction aborted');
  return r.map(([err, v]) => {
    if (err) throw err;
    return v;
  });
}
