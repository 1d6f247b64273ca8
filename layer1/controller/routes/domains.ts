// /v1/apps/:app/domains: the custom hostnames an app answers on (`www.example.com`, or a
// wildcard `*.example.com`). A domain belongs to one app; every change is handed to `onChange`
// (the router publisher, which tells the routers at once). Keys: `domains` (hash domain → app id: ownership) and
// `app:<id>:domains` (hash domain → JSON {createdAt, createdBy}, deleted with the app).
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { appRoute, type AnyRoute } from '../http/route.ts';
import type { Store } from '../store/index.ts';
import { Script, page } from '../store/keys.ts';
import { AppName, Page, components, listOf } from '../types.ts';
import type { RouteDeps } from './deps.ts';

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/** Lowercase labels of 1-63 characters, at least two, a top-level label that is not all digits (no IPs); `*.` only as the whole first label. */
export const HOSTNAME_RE = new RegExp(`^(?:\\*\\.)?(?:${LABEL}\\.)+(?=[a-z0-9-]*[a-z])${LABEL}$`);

export const Hostname = z
  .string()
  .trim()
  .toLowerCase()
  .max(253, 'at most 253 characters')
  .regex(HOSTNAME_RE, 'a hostname like www.example.com, or a wildcard like *.example.com');
components.add(Hostname, { id: 'Hostname' });

export const Domain = z.object({ domain: Hostname, app: AppName, createdAt: z.string(), createdBy: z.string() });
components.add(Domain, { id: 'Domain' });
type Domain = z.infer<typeof Domain>;

// KEYS: owners, the app's domains. ARGV: domain, app id, record JSON, the apps' key prefix.
// 'other' when another app (that still exists) has it; 'same' when this app already has it.
const ADD = new Script(`
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[2] and redis.call('EXISTS', ARGV[4] .. owner) == 1 then return 'other' end
if owner == ARGV[2] and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'same' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 'ok'
`);

// KEYS: owners, the app's domains. ARGV: domain (or '' for all of the app's), app id.
const REMOVE = new Script(`
local names = ARGV[1] ~= '' and { ARGV[1] } or redis.call('HKEYS', KEYS[2])
local n = 0
for _, d in ipairs(names) do
  n = n + redis.call('HDEL', KEYS[2], d)
  if redis.call('HGET', KEYS[1], d) == ARGV[2] then redis.call('HDEL', KEYS[1], d) end
end
return n
`);

export class DomainStore {
  readonly owners: string;
  constructor(private readonly store: Store, private readonly onChange: (appId: string) => Promise<unknown> = async () => undefined) {
    this.owners = `${store.keys.prefix}domains`;
  }

  private appKey(appId: string) {
    return `${this.store.keys.appPrefix(appId)}domains`;
  }

  async add(app: { id: string; name: string }, domain: string, by: string): Promise<Domain> {
    const rec = { createdAt: new Date().toISOString(), createdBy: by };
    const r = await ADD.run(this.store.redis, [this.owners, this.appKey(app.id)], [domain, app.id, JSON.stringify(rec), `${this.store.keys.prefix}app:`]);
    if (r === 'other') throw new SlipwayError('conflict', `${domain} belongs to another app`);
    if (r === 'same') throw new SlipwayError('conflict', `${domain} is already a domain of ${app.name}`);
    await this.onChange(app.id);
    return { domain, app: app.name, ...rec };
  }

  async list(app: { id: string; name: string }): Promise<Domain[]> {
    const all = await this.store.redis.hgetall(this.appKey(app.id));
    return Object.entries(all)
      .map(([domain, raw]) => ({ domain, app: app.name, ...(JSON.parse(raw) as { createdAt: string; createdBy: string }) }))
      .sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  }

  async remove(appId: string, domain: string): Promise<boolean> {
    const removed = (await REMOVE.run(this.store.redis, [this.owners, this.appKey(appId)], [domain, appId])) === 1;
    if (removed) await this.onChange(appId);
    return removed;
  }

  /** Frees every domain of a deleted app. */
  async removeApp(appId: string): Promise<void> {
    await REMOVE.run(this.store.redis, [this.owners, this.appKey(appId)], ['', appId]);
  }

  /** The id of the app a hostname belongs to (for the router), or null. */
  owner(domain: string): Promise<string | null> {
    return this.store.redis.hget(this.owners, domain);
  }
}

const Params = z.strictObject({ app: AppName });

export function domainRoutes(_: RouteDeps, domains: DomainStore): AnyRoute[] {
  return [
    appRoute({
      method: 'get', path: '/apps/:app/domains', tag: 'domains', summary: "The app's custom domains",
      role: 'view', params: Params, query: Page, response: listOf(Domain),
      handler: async ({ app, query }) => page(await domains.list(app), (x) => x.domain, query.limit, query.after),
    }),
    appRoute({
      method: 'post', path: '/apps/:app/domains', tag: 'domains', summary: 'Add a custom domain (a domain belongs to one app)',
      role: 'owner', params: Params, body: z.strictObject({ domain: Hostname }), response: Domain, status: 201, errors: ['conflict'],
      handler: ({ app, body, principal }) => domains.add(app, body.domain, principal.userName),
    }),
    appRoute({
      method: 'delete', path: '/apps/:app/domains/:domain', tag: 'domains', summary: 'Remove a custom domain',
      role: 'owner', params: Params.extend({ domain: Hostname }), response: null, status: 204, errors: ['not_found'],
      async handler({ app, params }) {
        if (!(await domains.remove(app.id, params.domain))) throw new SlipwayError('not_found', `${params.domain} is not a domain of ${app.name}`);
      },
    }),
  ];
}
