// The router's two halves meet here. The control plane (routes from the controller's Redis,
// backends from discovery, certificates) keeps a RouteTable up to date; the data plane (the
// proxy) asks it, per request, which app a Host and path belong to and which backends serve it.
import { z } from 'zod';

// ---- What the controller publishes (Redis, under the controller's key prefix, `ctl:`) ----
//
//   <ctl>router:apps     hash  app id  → AppRoute JSON
//   <ctl>router:certs    hash  cert id → CertRecord JSON
//   <ctl>router:version  string, INCR on every change of either hash
//   <ctl>router:changed  pub/sub channel; the message is the new version
//
// A router loads both hashes at start and again on every message (and whenever it sees a
// version newer than the one it holds, after a reconnect), so a change takes effect at once.

export const ROUTER_KEYS = {
  apps: (prefix: string) => `${prefix}router:apps`,
  certs: (prefix: string) => `${prefix}router:certs`,
  version: (prefix: string) => `${prefix}router:version`,
  changed: (prefix: string) => `${prefix}router:changed`,
} as const;

export const PathRouteSchema = z.object({
  /** A hostname (lowercase, may be `*.example.com`) the path lives under. */
  host: z.string(),
  /** Starts with `/`, no trailing `/` unless it is `/` itself; matches `prefix` and `prefix/...`. */
  prefix: z.string(),
  /**
   * The app id the host belonged to when the route was made: the route applies to a request only
   * while the requested host still belongs to that app (a host that changed hands, or a name a
   * wildcard route covers but another app owns, never gets it). Absent: the route's own app.
   */
  owner: z.string().optional(),
});
export type PathRoute = z.infer<typeof PathRouteSchema>;

export const AppRouteSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** The discovery service whose instances are the backends (`<app>-web`). */
  service: z.string(),
  /** Custom domains (exact or `*.` wildcard), besides the default `<name>.<SLIPWAY_DOMAIN>`. */
  domains: z.array(z.string()).default([]),
  /** Extra host+path-prefix routes to this app (on its own or other hostnames). */
  paths: z.array(PathRouteSchema).default([]),
  maintenance: z.boolean().default(false),
  /** Plain-HTTP requests get a 308 to https. */
  httpsRedirect: z.boolean().default(false),
});
export type AppRoute = z.infer<typeof AppRouteSchema>;

export const CertRecordSchema = z.object({
  id: z.string(),
  appId: z.string(),
  /** The names it covers (subject CN and DNS SANs, lowercase; may hold `*.` wildcards). */
  names: z.array(z.string()),
  certPem: z.string(),
  keyPem: z.string(),
  notAfter: z.string(),
  fingerprint: z.string(),
});
export type CertRecord = z.infer<typeof CertRecordSchema>;

// ---- What the data plane asks ----

export interface Backend {
  /** The discovery instance id (a container id). */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** Requests on their way to or from this backend now (load balancing reads, proxy updates). */
  inflight: number;
  /** Until this time (ms, Date.now()) the backend gets no new requests: it failed connects. */
  ejectedUntil: number;
  /** Consecutive connect failures (reset by a success). */
  failures: number;
  /** Deregistered: no new requests; in-flight ones finish. Set by the control plane. */
  draining: boolean;
}

/** The live backends of one app; the control plane replaces `backends` on every change. */
export interface BackendPool {
  readonly service: string;
  backends: readonly Backend[];
}

export interface RouteMatch {
  app: AppRoute;
  pool: BackendPool;
}

export interface RouteTable {
  /** `host` lowercase without port; `path` the request path (no query). Null: unknown host. */
  resolve(host: string, path: string): RouteMatch | null;
  /** The certificate context for an SNI name (null: the default certificate). */
  secureContext(servername: string): import('node:tls').SecureContext | null;
}

/** One line per request, handed to `onAccess` (`slipway up` gives them to the log shipper: router lines and app metrics). */
export interface AccessRecord {
  time: string;
  app: string | null;
  method: string;
  host: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  backend: string | null;
  requestId: string;
  /** Why the router answered itself (`unknown_host`, `no_backend`, `maintenance`, `connect_failed`, `timeout`, `bad_response`, `bad_request`). */
  error?: string;
}
