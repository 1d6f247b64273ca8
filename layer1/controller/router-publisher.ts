// What the router needs from the controller, written where routers read it (layer1/router/types.ts):
// one AppRoute per app (name, web service, domains, path routes, maintenance, HTTPS redirect)
// and one CertRecord per certificate, then INCR of the version and PUBLISH, in one script.
// Also the records behind them: `app:<id>:router` (hash: maintenance, httpsRedirect),
// `app:<id>:paths` (route id → {host, path, hostOwner, …}), `app:<id>:certs` (cert id → record with
// the key), and `path-routes` (host+path → "<app id> <route id> <host owner id>": one app per host
// and path while the host keeps its owner).
// Level-triggered: publish(app) re-reads the app's records and writes the whole AppRoute, one
// publish per app at a time, so the last one always carries the latest state; syncAll() at start.
import { SlipwayError } from '../../layer0/common/errors.ts';
import type { Logger } from '../../layer0/common/logger.ts';
import { ROUTER_KEYS, type AppRoute, type CertRecord } from '../router/types.ts';
import { webService } from './deploy/formation.ts';
import type { DomainStore } from './routes/domains.ts';
import type { Store } from './store/index.ts';
import { Script, timeId } from './store/keys.ts';

export interface RouterSettings {
  maintenance: boolean;
  httpsRedirect: boolean;
}

export interface PathRouteRecord {
  id: string;
  host: string;
  path: string;
  /** The app the host belonged to when the route was made: the route applies only while it still does (H3). Absent in records made before: the route's own app. */
  hostOwner?: string;
  createdAt: string;
  createdBy: string;
}

export interface CertSource extends Omit<CertRecord, 'appId'> {
  createdAt: string;
  createdBy: string;
}

// KEYS: router apps, router certs, version. ARGV: channel, app id, AppRoute JSON ('' removes it),
// n, n cert ids to remove, then cert id / CertRecord JSON pairs to set.
const PUBLISH = new Script(`
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[2]) else redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end
local n = tonumber(ARGV[4])
for i = 5, 4 + n do redis.call('HDEL', KEYS[2], ARGV[i]) end
for i = 5 + n, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
local v = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[1], v)
return v
`);

// KEYS: router apps, router certs, version. ARGV: channel, {"apps": {id: json}, "certs": {id: json}}.
const REPLACE_ALL = new Script(`
local all = cjson.decode(ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2])
for id, json in pairs(all.apps) do redis.call('HSET', KEYS[1], id, json) end
for id, json in pairs(all.certs) do redis.call('HSET', KEYS[2], id, json) end
local v = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[1], v)
return v
`);

// KEYS: path index, the app's paths. ARGV: index field, app id, route id, record JSON, apps' key
// prefix, the host's owner now. A claim whose app is gone, or made while another app owned the host
// (the host changed hands since: H3), is stale: it goes, and the app that held it is returned
// ('stale:<id>') so its routes are published again without it.
const ADD_PATH = new Script(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local result = 'ok'
if cur then
  local owner, route, hostOwner = string.match(cur, '^(%S+) (%S+) ?(%S*)')
  if redis.call('EXISTS', ARGV[5] .. owner) == 1 then
    if hostOwner == '' then hostOwner = owner end
    if hostOwner == ARGV[6] then return owner end
    redis.call('HDEL', ARGV[5] .. owner .. ':paths', route)
    result = 'stale:' .. owner
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[6])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return result
`);

// KEYS: path index, the app's paths. ARGV: route id, index field, "<app id> <route id>".
const REMOVE_PATH = new Script(`
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if cur and (cur == ARGV[3] or string.sub(cur, 1, #ARGV[3] + 1) == ARGV[3] .. ' ') then redis.call('HDEL', KEYS[1], ARGV[2]) end
return 1
`);

const parse = <T>(raw: string): T => JSON.parse(raw) as T;

export class RouterPublisher {
  readonly #chains = new Map<string, Promise<unknown>>();
  readonly #prefix: string;

  constructor(private readonly store: Store, private readonly domains: DomainStore, private readonly log: Logger) {
    this.#prefix = store.keys.prefix;
  }

  #settingsKey = (appId: string) => `${this.store.keys.appPrefix(appId)}router`;
  #pathsKey = (appId: string) => `${this.store.keys.appPrefix(appId)}paths`;
  #certsKey = (appId: string) => `${this.store.keys.appPrefix(appId)}certs`;
  get #pathIndex() {
    return `${this.#prefix}path-routes`;
  }

  // ---- settings ----

  async settings(appId: string): Promise<RouterSettings> {
    const h = await this.store.redis.hgetall(this.#settingsKey(appId));
    return { maintenance: h.maintenance === '1', httpsRedirect: h.httpsRedirect === '1' };
  }

  async setSettings(app: { id: string }, patch: Partial<RouterSettings>): Promise<RouterSettings> {
    const fields = Object.entries(patch).filter(([, v]) => v !== undefined).flatMap(([k, v]) => [k, v ? '1' : '0']);
    if (fields.length) await this.store.redis.hset(this.#settingsKey(app.id), ...fields);
    await this.publish(app.id);
    return this.settings(app.id);
  }

  // ---- path routes ----

  async paths(appId: string): Promise<PathRouteRecord[]> {
    const all = await this.store.redis.hvals(this.#pathsKey(appId));
    return all.map((r) => parse<PathRouteRecord>(r)).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /**
   * Claims host+path for the app while `hostOwner` (an app id) owns the host; `conflict` when
   * another app (or this one) routes it already under the same owner.
   */
  async addPath(app: { id: string; name: string }, host: string, path: string, by: string, hostOwner: string): Promise<PathRouteRecord> {
    const rec: PathRouteRecord = { id: timeId('route'), host, path, hostOwner, createdAt: new Date().toISOString(), createdBy: by };
    const r = String(await ADD_PATH.run(this.store.redis, [this.#pathIndex, this.#pathsKey(app.id)], [host + path, app.id, rec.id, JSON.stringify(rec), `${this.#prefix}app:`, hostOwner]));
    if (r !== 'ok' && !r.startsWith('stale:')) throw new SlipwayError('conflict', r === app.id ? `${app.name} already routes ${host}${path}` : `${host}${path} is routed to another app`);
    if (r.startsWith('stale:')) await this.publish(r.slice(6));
    await this.publish(app.id);
    return rec;
  }

  async removePath(app: { id: string }, id: string): Promise<boolean> {
    const raw = await this.store.redis.hget(this.#pathsKey(app.id), id);
    if (!raw) return false;
    const rec = parse<PathRouteRecord>(raw);
    const removed = (await REMOVE_PATH.run(this.store.redis, [this.#pathIndex, this.#pathsKey(app.id)], [id, rec.host + rec.path, `${app.id} ${id}`])) === 1;
    if (removed) await this.publish(app.id);
    return removed;
  }

  // ---- certificates ----

  async certs(appId: string): Promise<CertSource[]> {
    const all = await this.store.redis.hvals(this.#certsKey(appId));
    return all.map((r) => parse<CertSource>(r)).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Stores a parsed, checked certificate; `conflict` when the app has this one already. */
  async addCert(app: { id: string; name: string }, cert: Omit<CertSource, 'id' | 'createdAt' | 'createdBy'>, by: string): Promise<CertSource> {
    const same = (await this.certs(app.id)).find((c) => c.fingerprint === cert.fingerprint);
    if (same) throw new SlipwayError('conflict', `${app.name} has this certificate already (${same.id})`);
    const rec: CertSource = { id: timeId('cert'), ...cert, createdAt: new Date().toISOString(), createdBy: by };
    await this.store.redis.hset(this.#certsKey(app.id), rec.id, JSON.stringify(rec));
    await this.publish(app.id);
    return rec;
  }

  async removeCert(app: { id: string }, id: string): Promise<boolean> {
    if ((await this.store.redis.hdel(this.#certsKey(app.id), id)) === 0) return false;
    await this.publish(app.id, [id]);
    return true;
  }

  // ---- publishing ----

  /** Writes the app's AppRoute and certificates as they are now (none when it is gone); the new version. */
  publish(appId: string, dropCerts: string[] = [], remove = false): Promise<number> {
    const prev = this.#chains.get(appId) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.#publish(appId, dropCerts, remove));
    this.#chains.set(appId, next);
    void next.finally(() => this.#chains.get(appId) === next && this.#chains.delete(appId)).catch(() => undefined);
    return next;
  }

  /** Before an app's records go: its route, certificates and path claims leave the router. */
  async appDeleted(app: { id: string }): Promise<void> {
    for (const p of await this.paths(app.id)) {
      await REMOVE_PATH.run(this.store.redis, [this.#pathIndex, this.#pathsKey(app.id)], [p.id, p.host + p.path, `${app.id} ${p.id}`]);
    }
    const certIds = (await this.certs(app.id)).map((c) => c.id);
    await this.store.redis.del(this.#certsKey(app.id), this.#settingsKey(app.id));
    await this.publish(app.id, certIds, true);
  }

  /** Rewrites both router hashes from every app's records (at start: repairs a publish lost in a crash). */
  async syncAll(): Promise<number> {
    const apps: Record<string, string> = {};
    const certs: Record<string, string> = {};
    let after: string | undefined;
    for (;;) {
      const page = await this.store.apps.listAll(500, after);
      for (const app of page.items) {
        const { route, certs: cs } = await this.#build(app);
        apps[app.id] = JSON.stringify(route);
        for (const c of cs) certs[c.id] = JSON.stringify(c);
      }
      if (!page.next) break;
      after = page.next;
    }
    const v = Number(await REPLACE_ALL.run(this.store.redis, this.#routerKeys(), [ROUTER_KEYS.changed(this.#prefix), JSON.stringify({ apps, certs })]));
    this.log.info({ apps: Object.keys(apps).length, certs: Object.keys(certs).length, version: v }, 'router routes synced');
    return v;
  }

  #routerKeys(): string[] {
    return [ROUTER_KEYS.apps(this.#prefix), ROUTER_KEYS.certs(this.#prefix), ROUTER_KEYS.version(this.#prefix)];
  }

  async #build(app: { id: string; name: string }): Promise<{ route: AppRoute; certs: CertRecord[] }> {
    const [settings, domains, paths, certs] = await Promise.all([this.settings(app.id), this.domains.routable(app), this.paths(app.id), this.certs(app.id)]);
    const route: AppRoute = {
      id: app.id, name: app.name, service: webService(app),
      domains,
      paths: paths.map((p) => ({ host: p.host, prefix: p.path, owner: p.hostOwner ?? app.id })),
      maintenance: settings.maintenance, httpsRedirect: settings.httpsRedirect,
    };
    return { route, certs: certs.map(({ createdAt: _a, createdBy: _b, ...c }) => ({ ...c, appId: app.id })) };
  }

  async #publish(appId: string, dropCerts: string[], remove: boolean): Promise<number> {
    const app = remove ? null : await this.store.apps.get(appId);
    const built = app ? await this.#build(app) : null;
    const args: string[] = [ROUTER_KEYS.changed(this.#prefix), appId, built ? JSON.stringify(built.route) : '', String(dropCerts.length), ...dropCerts];
    for (const c of built?.certs ?? []) args.push(c.id, JSON.stringify(c));
    const v = Number(await PUBLISH.run(this.store.redis, this.#routerKeys(), args));
    this.log.debug({ app: app?.name ?? appId, version: v }, 'router route published');
    return v;
  }
}
