// /v1/apps/:app/domains: the custom hostnames an app answers on (`www.example.com`, or a
// wildcard `*.example.com`). A domain belongs to one app; every change is handed to `onChange`
// (the router publisher, which tells the routers at once). Keys: `domains` (hash domain → app id: ownership) and
// `app:<id>:domains` (hash domain → JSON {createdAt, createdBy, token, verifiedAt}, deleted with the app).
// A custom domain outside SLIPWAY_DOMAIN routes only once `_slipway-challenge.<domain>` holds its
// token as a TXT record (L2); names under SLIPWAY_DOMAIN other than the app's own, and public
// suffixes, are refused (H3).
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { appRoute, type AnyRoute } from '../http/route.ts';
import type { Store } from '../store/index.ts';
import { Script, page } from '../store/keys.ts';
import { AppName, Page, components, listOf } from '../types.ts';
import type { RouteDeps } from './deps.ts';
import { isPublicSuffix } from '../public-suffix.ts';

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

export const Domain = z.object({
  domain: Hostname, app: AppName, createdAt: z.string(), createdBy: z.string(),
  verified: z.boolean().describe('the router serves it (verified by its TXT record, or needing no verification)'),
  verification: z.object({
    name: z.string().describe('the DNS name of the TXT record: _slipway-challenge.<domain>'),
    type: z.literal('TXT'),
    value: z.string().describe('what the TXT record must hold'),
  }).optional().describe('how to prove the domain is yours (unverified domains only)'),
});
components.add(Domain, { id: 'Domain' });
type Domain = z.infer<typeof Domain>;

/** What is stored per domain in `app:<id>:domains`. */
interface DomainRecord {
  createdAt: string;
  createdBy: string;
  /** The TXT value that proves control (custom domains outside SLIPWAY_DOMAIN). Absent: added before verification existed, counted as verified so an upgrade stops no traffic. */
  token?: string;
  verifiedAt?: string;
}

export interface DomainOptions {
  /** SLIPWAY_DOMAIN: apps answer on `<app>.<domain>`; no app may claim a name under it but its own. */
  domain?: string;
  /** Custom domains outside SLIPWAY_DOMAIN route only once their TXT record is seen (SLIPWAY_DOMAIN_VERIFY, default on). */
  verify?: boolean;
  /** The DNS server TXT records are asked of (`host[:port]`, SLIPWAY_DNS_RESOLVER; default the system's). */
  resolver?: string;
}

// KEYS: owners, the app's domains. ARGV: domain, app id, record JSON, the apps' key prefix, '1' when
// an unverified claim of another app may be taken over (it does not route; whoever verifies first keeps it).
// 'other' when another app (that still exists) holds it; 'same' when this app already has it; else
// 'ok' or the id of the app whose unverified claim was taken.
const ADD = new Script(`
local owner = redis.call('HGET', KEYS[1], ARGV[1])
local taken = 'ok'
if owner and owner ~= ARGV[2] and redis.call('EXISTS', ARGV[4] .. owner) == 1 then
  local rec = redis.call('HGET', ARGV[4] .. owner .. ':domains', ARGV[1])
  local d = rec and cjson.decode(rec)
  if not d or ARGV[5] ~= '1' or d.verifiedAt or not d.token then return 'other' end
  redis.call('HDEL', ARGV[4] .. owner .. ':domains', ARGV[1])
  taken = owner
end
if owner == ARGV[2] and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'same' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return taken
`);

// KEYS: owners, the app's domains. ARGV: domain, app id, verifiedAt. 0 when the app no longer holds it.
const MARK_VERIFIED = new Script(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
rec.verifiedAt = ARGV[3]
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(rec))
return 1
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

const CHALLENGE = '_slipway-challenge';

export class DomainStore {
  readonly owners: string;
  readonly #domain: string;
  readonly #verify: boolean;
  readonly #resolver: string | undefined;

  constructor(private readonly store: Store, private readonly onChange: (appId: string) => Promise<unknown> = async () => undefined, o: DomainOptions = {}) {
    this.owners = `${store.keys.prefix}domains`;
    this.#domain = (o.domain ?? process.env.SLIPWAY_DOMAIN ?? 'localhost').toLowerCase();
    this.#verify = o.verify ?? process.env.SLIPWAY_DOMAIN_VERIFY !== 'off';
    this.#resolver = o.resolver ?? (process.env.SLIPWAY_DNS_RESOLVER || undefined);
  }

  private appKey(appId: string) {
    return `${this.store.keys.appPrefix(appId)}domains`;
  }

  /** The app's own `<name>.<domain>` or a name under it: routed at once, nobody else's to claim. */
  #ownName(appName: string, base: string): boolean {
    const own = `${appName}.${this.#domain}`;
    return base === own || base.endsWith(`.${own}`);
  }

  /**
   * Refuses what no app may claim (422): a public suffix or a wildcard over one (public-suffix.ts),
   * and names under SLIPWAY_DOMAIN other than the app's own host and the names under it (they
   * belong to the platform and to the other apps: H3).
   */
  checkClaimable(appName: string, domain: string): void {
    const base = domain.startsWith('*.') ? domain.slice(2) : domain;
    if (base === this.#domain || base.endsWith(`.${this.#domain}`)) {
      if (!this.#ownName(appName, base)) {
        throw new SlipwayError('unprocessable', `${domain} is under the platform's domain ${this.#domain}: only ${appName}.${this.#domain} and the names under it can be ${appName}'s`);
      }
      return;
    }
    if (isPublicSuffix(base)) throw new SlipwayError('unprocessable', `${domain} is ${domain === base ? 'a public suffix' : 'a wildcard over a public suffix'} (anyone can register names under ${base}): name a domain you own`);
  }

  /** Whether a domain routes only once verified: custom domains outside SLIPWAY_DOMAIN while verification is on. */
  needsVerification(domain: string): boolean {
    const base = domain.startsWith('*.') ? domain.slice(2) : domain;
    return this.#verify && !(base === this.#domain || base.endsWith(`.${this.#domain}`));
  }

  #show(app: { name: string }, domain: string, r: DomainRecord): Domain {
    const verified = !this.needsVerification(domain) || !!r.verifiedAt || r.token === undefined;
    const base = domain.startsWith('*.') ? domain.slice(2) : domain;
    return {
      domain, app: app.name, createdAt: r.createdAt, createdBy: r.createdBy, verified,
      ...(!verified && r.token ? { verification: { name: `${CHALLENGE}.${base}`, type: 'TXT' as const, value: r.token } } : {}),
    };
  }

  async add(app: { id: string; name: string }, domain: string, by: string): Promise<Domain> {
    this.checkClaimable(app.name, domain);
    const rec: DomainRecord = { createdAt: new Date().toISOString(), createdBy: by, token: `slipway-verify=${randomBytes(16).toString('hex')}` };
    const r = await ADD.run(this.store.redis, [this.owners, this.appKey(app.id)], [domain, app.id, JSON.stringify(rec), `${this.store.keys.prefix}app:`, this.needsVerification(domain) ? '1' : '0']);
    if (r === 'other') throw new SlipwayError('conflict', `${domain} belongs to another app`);
    if (r === 'same') throw new SlipwayError('conflict', `${domain} is already a domain of ${app.name}`);
    if (r !== 'ok') await this.onChange(String(r));
    await this.onChange(app.id);
    return this.#show(app, domain, rec);
  }

  async list(app: { id: string; name: string }): Promise<Domain[]> {
    const all = await this.store.redis.hgetall(this.appKey(app.id));
    return Object.entries(all)
      .map(([domain, raw]) => this.#show(app, domain, JSON.parse(raw) as DomainRecord))
      .sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  }

  /** The domains the router may send to the app: verified ones, or those needing no verification. */
  async routable(app: { id: string; name: string }): Promise<string[]> {
    return (await this.list(app)).filter((d) => d.verified).map((d) => d.domain);
  }

  /**
   * Looks up `_slipway-challenge.<domain>` TXT and marks the domain verified when a record holds
   * its token. 422 saying what was found otherwise; 404 when the app does not have the domain.
   */
  async verify(app: { id: string; name: string }, domain: string): Promise<Domain> {
    const raw = await this.store.redis.hget(this.appKey(app.id), domain);
    if (!raw) throw new SlipwayError('not_found', `${domain} is not a domain of ${app.name}`);
    const rec = JSON.parse(raw) as DomainRecord;
    if (!this.needsVerification(domain) || rec.verifiedAt || rec.token === undefined) return this.#show(app, domain, rec);
    const base = domain.startsWith('*.') ? domain.slice(2) : domain;
    const name = `${CHALLENGE}.${base}`;
    const resolver = new Resolver({ timeout: 3000, tries: 2 });
    if (this.#resolver) resolver.setServers([this.#resolver]);
    let found: string[] = [];
    try {
      found = (await resolver.resolveTxt(name)).map((chunks) => chunks.join(''));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTFOUND' && code !== 'ENODATA') throw new SlipwayError('unavailable', `looking up ${name} TXT failed (${code ?? 'error'}); try again later`);
    }
    if (!rec.token || !found.includes(rec.token)) {
      throw new SlipwayError('unprocessable', `${name} has no TXT record "${rec.token}" yet (${found.length ? `found ${found.length} other record(s)` : 'none found'}); add it at your DNS provider, then verify again`);
    }
    const at = new Date().toISOString();
    if ((await MARK_VERIFIED.run(this.store.redis, [this.owners, this.appKey(app.id)], [domain, app.id, at])) !== 1) {
      throw new SlipwayError('conflict', `${domain} was claimed by another app meanwhile`);
    }
    await this.onChange(app.id);
    return this.#show(app, domain, { ...rec, verifiedAt: at });
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

  /** After a rename: the names under the old `<name>.<domain>` are no longer the app's to hold. */
  async renamed(app: { id: string; name: string }, oldName: string): Promise<void> {
    for (const d of await this.list(app)) {
      const base = d.domain.startsWith('*.') ? d.domain.slice(2) : d.domain;
      if (this.#ownName(oldName, base)) await REMOVE.run(this.store.redis, [this.owners, this.appKey(app.id)], [d.domain, app.id]);
    }
  }

  /** The id of the app a hostname routes to (verified, or needing no verification), or null. */
  async owner(domain: string): Promise<string | null> {
    const id = await this.store.redis.hget(this.owners, domain);
    if (!id || !this.needsVerification(domain)) return id;
    const raw = await this.store.redis.hget(this.appKey(id), domain);
    const rec = raw ? (JSON.parse(raw) as DomainRecord) : null;
    return rec && (rec.verifiedAt || rec.token === undefined) ? id : null;
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
      role: 'owner', params: Params, body: z.strictObject({ domain: Hostname }), response: Domain, status: 201, errors: ['conflict', 'unprocessable'],
      handler: ({ app, body, principal }) => domains.add(app, body.domain, principal.userName),
    }),
    appRoute({
      method: 'post', path: '/apps/:app/domains/:domain/verify', tag: 'domains',
      summary: 'Verify a custom domain by its TXT record (_slipway-challenge.<domain>); the router serves it once verified',
      role: 'owner', params: Params.extend({ domain: Hostname }), response: Domain, errors: ['not_found', 'unprocessable', 'conflict', 'unavailable'],
      handler: ({ app, params }) => domains.verify(app, params.domain),
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
