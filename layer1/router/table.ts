// The RouteTable the proxy asks on every request (types.ts). Rebuilt whole on each route change
// (a few maps, from the controller's AppRoutes); a lookup is a handful of Map gets and returns a
// prebuilt RouteMatch, whose pool object stays the same while backends.ts swaps its list.
import type { SecureContext } from 'node:tls';
import type { CertStore } from './certs.ts';
import type { AppRoute, BackendPool, RouteMatch, RouteTable } from './types.ts';

interface PathEntry {
  readonly prefix: string;
  readonly match: RouteMatch;
  /** The app id the host must belong to for the route to apply (types.ts PathRoute.owner). */
  readonly owner: string;
}

export class LiveRouteTable implements RouteTable {
  /** `<name>.<domain>` and exact custom domains. */
  #hosts = new Map<string, RouteMatch>();
  /** `example.com` → the app of `*.example.com`. */
  #wild = new Map<string, RouteMatch>();
  /** A host (or `*.example.com`) → its path routes, longest prefix first. */
  #paths = new Map<string, PathEntry[]>();
  #apps: readonly AppRoute[] = [];
  /** App id → the service it was last routed to, and that service's pool while a rename hands over. */
  #services = new Map<string, { service: string; pool: BackendPool; from?: BackendPool }>();
  readonly #suffix: string;

  constructor(readonly domain: string, private readonly pools: (service: string) => BackendPool, private readonly certs: CertStore) {
    this.#suffix = `.${domain.toLowerCase()}`;
  }

  get apps(): readonly AppRoute[] {
    return this.#apps;
  }

  /** The services whose backends the routes use (a renamed app's old one too, while it hands over). */
  services(): Set<string> {
    const out = new Set<string>();
    for (const s of this.#services.values()) {
      out.add(s.service);
      if (s.from) out.add(s.from.service);
    }
    return out;
  }

  /** Replaces every route. A custom domain claimed twice goes to the app listed first (the controller keeps them unique). */
  setRoutes(apps: readonly AppRoute[]): void {
    const hosts = new Map<string, RouteMatch>();
    const wild = new Map<string, RouteMatch>();
    const paths = new Map<string, PathEntry[]>();
    const sorted = [...apps].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const services = new Map<string, { service: string; pool: BackendPool; from?: BackendPool }>();
    const taken = new Set(sorted.map((a) => a.service));
    const matches = sorted.map((app): RouteMatch => {
      const pool = this.pools(app.service);
      const before = this.#services.get(app.id);
      // A rename moves the app to `<new>-web` at once, while its processes register there only as
      // the rollout replaces them: until the new service has a backend, the old one serves (unless
      // another app now has the old name, and with it that service).
      const from = before && before.service !== app.service ? before.pool : before?.service === app.service ? before.from : undefined;
      const live = from && from.backends.length > 0 && !taken.has(from.service) ? from : undefined;
      services.set(app.id, { service: app.service, pool, ...(live ? { from: live } : {}) });
      return { app, pool: live ? handover(pool, live) : pool };
    });
    this.#services = services;
    // Every app's own `<name>.<domain>` first: another app's custom domain cannot take it.
    for (const m of matches) hosts.set(m.app.name + this.#suffix, m);
    for (const match of matches) {
      const app = match.app;
      for (const d of app.domains) {
        const [map, key] = d.startsWith('*.') ? [wild, d.slice(2)] : [hosts, d];
        if (!map.has(key)) map.set(key, match);
      }
      for (const p of app.paths) {
        const list = paths.get(p.host) ?? [];
        const owner = p.owner ?? app.id;
        if (!list.some((e) => e.prefix === p.prefix && e.owner === owner)) list.push({ prefix: p.prefix, match, owner });
        paths.set(p.host, list);
      }
    }
    for (const list of paths.values()) list.sort((a, b) => b.prefix.length - a.prefix.length);
    this.#hosts = hosts;
    this.#wild = wild;
    this.#paths = paths;
    this.#apps = sorted;
  }

  /**
   * The app for a host and path: a path route when one matches and the host belongs to the app it
   * belonged to when the route was made (H3: a route outlives neither the host's owner nor covers,
   * by a wildcard, a host that another app owns), else the host's owner.
   */
  resolve(host: string, path: string): RouteMatch | null {
    if (host.endsWith('.')) host = host.slice(0, -1);
    const owner = this.#owner(host);
    if (this.#paths.size && owner !== null) {
      const id = owner.app.id;
      const byPath = this.#byPath(this.#paths.get(host), path, id) ?? this.#wildcardPaths(host, path, id);
      if (byPath) return byPath;
    }
    return owner;
  }

  secureContext(servername: string): SecureContext | null {
    const host = servername.toLowerCase().replace(/\.$/, '');
    return this.certs.match(host, this.#owner(host)?.app.id ?? null);
  }

  /** The app a hostname belongs to: exact, then the most specific `*.` parent. */
  #owner(host: string): RouteMatch | null {
    const exact = this.#hosts.get(host);
    if (exact) return exact;
    for (let i = host.indexOf('.'); i >= 0 && this.#wild.size; i = host.indexOf('.', i + 1)) {
      const m = this.#wild.get(host.slice(i + 1));
      if (m) return m;
    }
    return null;
  }

  #wildcardPaths(host: string, path: string, owner: string): RouteMatch | null {
    for (let i = host.indexOf('.'); i >= 0; i = host.indexOf('.', i + 1)) {
      const m = this.#byPath(this.#paths.get(`*.${host.slice(i + 1)}`), path, owner);
      if (m) return m;
    }
    return null;
  }

  #byPath(list: PathEntry[] | undefined, path: string, owner: string): RouteMatch | null {
    if (!list) return null;
    for (const e of list) {
      if (e.owner !== owner) continue;
      // `/api` matches `/api` and `/api/…`, not `/apix`; `/` matches everything.
      if (e.prefix === '/' || (path.startsWith(e.prefix) && (path.length === e.prefix.length || path.charCodeAt(e.prefix.length) === 47))) return e.match;
    }
    return null;
  }
}

/** The new pool once it has a backend, the old one until then. */
function handover(next: BackendPool, prev: BackendPool): BackendPool {
  return {
    service: next.service,
    get backends() {
      return next.backends.length > 0 ? next.backends : prev.backends;
    },
  };
}
