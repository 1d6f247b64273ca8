// The router's API: maintenance mode, TLS certificates, path routes and the app's router
// settings (HTTPS redirect). Every change is published to the routers at once (router-publisher.ts).
// Roles: reads are `view`; maintenance is `deploy` (an operational switch, like a restart, that CI
// flips around a migration); certificates, path routes and settings are `owner`, like domains,
// since they decide which hostnames the app answers and how.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { appRole, atLeast, type Principal } from '../auth/roles.ts';
import { appRoute, type AnyRoute } from '../http/route.ts';
import type { RouterPublisher } from '../router-publisher.ts';
import type { Store } from '../store/index.ts';
import { page } from '../store/keys.ts';
import { APP_NAME_RE, AppName, Page, components, listOf } from '../types.ts';
import type { RouteDeps } from './deps.ts';
import { Hostname, type DomainStore } from './domains.ts';

export interface RouterApiOptions {
  /** SLIPWAY_DOMAIN: apps answer on `<app>.<domain>` (default `localhost`). */
  domain?: string;
  /** The router's HTTP port, for the app's URL (default 8080). */
  httpPort?: number;
  /** Why the router is not serving yet (null: it is); `/readyz` answers 503 until then. */
  notReady?: () => string | null;
  /** Custom domains outside `domain` route only once verified by TXT (default: SLIPWAY_DOMAIN_VERIFY, on unless `off`). */
  verifyDomains?: boolean;
  /** The DNS server for TXT verification, `host[:port]` (default: SLIPWAY_DNS_RESOLVER, else the system's). */
  dnsResolver?: string;
}

const named = <T extends z.ZodType>(id: string, s: T): T => (components.add(s, { id }), s);
const Time = z.string().describe('RFC 3339 time');
const Params = z.strictObject({ app: AppName });
const IdParams = Params.extend({ id: z.string().regex(/^[a-z]+_[0-9a-z]{9}[0-9a-f]{8}$/, 'an id as listed') });

const Maintenance = named('Maintenance', z.object({ app: AppName, maintenance: z.boolean().describe('requests get a 503 maintenance page') }));
const Settings = named('RouterSettings', z.object({
  httpsRedirect: z.boolean().describe('plain-HTTP requests get a 308 to https'),
  url: z.string().describe("where the router serves the app (read-only)"),
}));
const PatchSettings = z.strictObject({ httpsRedirect: z.boolean().optional() });
const Cert = named('Certificate', z.object({
  id: z.string(), app: AppName,
  names: z.array(z.string()).describe('subject CN and DNS subjectAltNames'),
  notAfter: Time, expired: z.boolean(),
  fingerprint: z.string().describe('SHA-256 of the certificate, hex pairs'),
  createdAt: Time, createdBy: z.string(),
}));
const Pem = z.string().min(1).max(256 * 1024);
const AddCert = z.strictObject({ cert: Pem.describe('PEM certificate (chain after it allowed)'), key: Pem.describe('PEM private key (unencrypted); never returned') });
/** `/`, or `/segment[/segment…][/]` without `.`/`..` segments (a trailing `/` is dropped). One way to match any input: no backtracking blow-up. */
const SEG = "(?!\\.\\.?(?:/|$))[A-Za-z0-9._~!$&'()*+,;=:@%-]+";
const PATH_RE = new RegExp(`^/(?:${SEG}(?:/${SEG})*/?)?$`);
const RoutePath = z.string().max(200).regex(PATH_RE, 'a path prefix like /api (letters, digits and -._~!$&\'()*+,;=:@%; no . or .. segments)');
const PathRoute = named('PathRoute', z.object({
  id: z.string(), app: AppName, host: Hostname, path: z.string(), createdAt: Time, createdBy: z.string(),
  active: z.boolean().describe('the host still belongs to the app it belonged to when the route was made (else the router ignores the route)'),
}));
const AddPathRoute = z.strictObject({ host: Hostname, path: RoutePath });

const unprocessable = (msg: string) => new SlipwayError('unprocessable', msg);

/** Names, expiry and fingerprint of a PEM certificate whose key matches; 422 with the reason otherwise. */
export function parseCertificate(certPem: string, keyPem: string, now = Date.now()): { names: string[]; notAfter: string; fingerprint: string } {
  let x: X509Certificate;
  try {
    x = new X509Certificate(certPem);
  } catch {
    throw unprocessable('cert: not a PEM certificate (-----BEGIN CERTIFICATE-----)');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw unprocessable('key: not an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)');
  }
  if (!x.checkPrivateKey(key)) throw unprocessable('key: does not match the certificate');
  const notAfter = Date.parse(x.validTo);
  if (!Number.isFinite(notAfter)) throw unprocessable('cert: unreadable expiry date');
  if (notAfter <= now) throw unprocessable(`cert: expired on ${new Date(notAfter).toISOString()}`);
  const names = new Set<string>();
  for (const line of x.subject.split('\n')) if (line.startsWith('CN=')) names.add(line.slice(3).trim().toLowerCase());
  for (const san of (x.subjectAltName ?? '').split(', ')) if (san.startsWith('DNS:')) names.add(san.slice(4).trim().toLowerCase());
  if (!names.size) throw unprocessable('cert: names no hostname (no CN, no DNS subjectAltName)');
  return { names: [...names].sort(), notAfter: new Date(notAfter).toISOString(), fingerprint: x.fingerprint256 };
}

/** An app's address through the router (`http://web.localhost:8080`; no port for 80): the API's settings and the push's summary. */
export function appUrl(name: string, domain: string, httpPort: number): string {
  return `http://${name}.${domain}${httpPort === 80 ? '' : `:${httpPort}`}`;
}

export function routerRoutes({ store }: RouteDeps, publisher: RouterPublisher, domains: DomainStore, o: RouterApiOptions = {}): AnyRoute[] {
  const domain = (o.domain ?? 'localhost').toLowerCase();
  const url = (name: string) => `${appUrl(name, domain, o.httpPort ?? 8080)}/`;
  const settings = async (app: { id: string; name: string }) => ({ httpsRedirect: (await publisher.settings(app.id)).httpsRedirect, url: url(app.name) });
  const hostOwner = (host: string) => ownerOf(store, domains, domain, host);
  return [
    appRoute({
      method: 'get', path: '/apps/:app/maintenance', tag: 'router', summary: 'Whether the app is in maintenance mode',
      role: 'view', params: Params, response: Maintenance,
      handler: async ({ app }) => ({ app: app.name, maintenance: (await publisher.settings(app.id)).maintenance }),
    }),
    appRoute({
      method: 'put', path: '/apps/:app/maintenance', tag: 'router', summary: 'Maintenance mode on: every request gets a 503 maintenance page',
      role: 'deploy', params: Params, response: Maintenance,
      handler: async ({ app }) => ({ app: app.name, maintenance: (await publisher.setSettings(app, { maintenance: true })).maintenance }),
    }),
    appRoute({
      method: 'delete', path: '/apps/:app/maintenance', tag: 'router', summary: 'Maintenance mode off',
      role: 'deploy', params: Params, response: null, status: 204,
      async handler({ app }) {
        await publisher.setSettings(app, { maintenance: false });
      },
    }),
    appRoute({
      method: 'get', path: '/apps/:app/certs', tag: 'router', summary: "The app's TLS certificates (never their keys)",
      role: 'view', params: Params, query: Page, response: listOf(Cert),
      handler: async ({ app, query }) => page((await publisher.certs(app.id)).map((c) => showCert(app.name, c)), (c) => c.id, query.limit, query.after),
    }),
    appRoute({
      method: 'post', path: '/apps/:app/certs', tag: 'router', summary: 'Add a TLS certificate and its key (PEM); the router serves it by SNI for its names',
      role: 'owner', params: Params, body: AddCert, response: Cert, status: 201, errors: ['unprocessable', 'conflict'],
      async handler({ app, body, principal }) {
        const parsed = parseCertificate(body.cert, body.key);
        const rec = await publisher.addCert(app, { ...parsed, certPem: body.cert, keyPem: body.key }, principal.userName);
        return showCert(app.name, rec);
      },
    }),
    appRoute({
      method: 'delete', path: '/apps/:app/certs/:id', tag: 'router', summary: 'Remove a certificate',
      role: 'owner', params: IdParams, response: null, status: 204, errors: ['not_found'],
      async handler({ app, params }) {
        if (!(await publisher.removeCert(app, params.id))) throw new SlipwayError('not_found', `${app.name} has no certificate ${params.id}`);
      },
    }),
    appRoute({
      method: 'get', path: '/apps/:app/routes', tag: 'router', summary: "The app's path routes (host + path prefix → this app)",
      role: 'view', params: Params, query: Page, response: listOf(PathRoute),
      async handler({ app, query }) {
        const paths = await publisher.paths(app.id);
        const shown = await Promise.all(paths.map(async ({ hostOwner: madeFor, ...p }) => ({ ...p, app: app.name, active: (await hostOwner(p.host)) === (madeFor ?? app.id) })));
        return page(shown, (p) => p.id, query.limit, query.after);
      },
    }),
    appRoute({
      method: 'post', path: '/apps/:app/routes', tag: 'router',
      summary: "Route a path prefix of a hostname to this app; on another app's hostname the caller must own that app too. The route applies only while the hostname belongs to the app it belongs to now",
      role: 'owner', params: Params, body: AddPathRoute, response: PathRoute, status: 201, errors: ['forbidden', 'conflict', 'unprocessable'],
      async handler({ app, body, principal }) {
        const path = body.path.length > 1 ? body.path.replace(/\/+$/, '') : body.path;
        const owner = await hostOwner(body.host);
        if (!owner) throw unprocessable(`no app answers on ${body.host}: add it as a domain of an app first`);
        if (owner !== app.id && !(await ownsApp(store, principal, owner))) {
          throw new SlipwayError('forbidden', `${body.host} belongs to another app; a path route on it needs the owner role on that app too`);
        }
        const { hostOwner: _, ...rec } = await publisher.addPath(app, body.host, path, principal.userName, owner);
        return { ...rec, app: app.name, active: true };
      },
    }),
    appRoute({
      method: 'delete', path: '/apps/:app/routes/:id', tag: 'router', summary: 'Remove a path route',
      role: 'owner', params: IdParams, response: null, status: 204, errors: ['not_found'],
      async handler({ app, params }) {
        if (!(await publisher.removePath(app, params.id))) throw new SlipwayError('not_found', `${app.name} has no path route ${params.id}`);
      },
    }),
    appRoute({
      method: 'get', path: '/apps/:app/settings', tag: 'router', summary: "The app's router settings and URL",
      role: 'view', params: Params, response: Settings,
      handler: ({ app }) => settings(app),
    }),
    appRoute({
      method: 'patch', path: '/apps/:app/settings', tag: 'router', summary: 'Change router settings (httpsRedirect)',
      role: 'owner', params: Params, body: PatchSettings, response: Settings,
      async handler({ app, body }) {
        await publisher.setSettings(app, body);
        return settings(app);
      },
    }),
  ];
}

function showCert(app: string, c: { id: string; names: string[]; notAfter: string; fingerprint: string; createdAt: string; createdBy: string }) {
  return { id: c.id, app, names: c.names, notAfter: c.notAfter, expired: Date.parse(c.notAfter) <= Date.now(), fingerprint: c.fingerprint, createdAt: c.createdAt, createdBy: c.createdBy };
}

/** The id of the app a hostname belongs to: a custom domain, `<app>.<domain>`, or a wildcard parent. */
async function ownerOf(store: Store, domains: DomainStore, domain: string, host: string): Promise<string | null> {
  const live = async (id: string | null) => (id && (await store.apps.get(id)) ? id : null);
  // An app's own `<app>.<domain>` first, as the router resolves it: a custom domain cannot take it.
  if (host.endsWith(`.${domain}`)) {
    const name = host.slice(0, -domain.length - 1);
    if (APP_NAME_RE.test(name)) {
      const id = await live(await store.redis.hget(store.keys.appNames, name));
      if (id) return id;
    }
  }
  const exact = await live(await domains.owner(host));
  if (exact) return exact;
  for (let i = host.indexOf('.'); i >= 0; i = host.indexOf('.', i + 1)) {
    const id = await live(await domains.owner(`*.${host.slice(i + 1)}`));
    if (id) return id;
  }
  return null;
}

async function ownsApp(store: Store, p: Principal, appId: string): Promise<boolean> {
  const grant = p.admin ? null : await store.access.get(appId, p.userId);
  return atLeast(appRole(p, appId, grant), 'owner');
}
