// The router's admin port (DESIGN.md: 7002, never the apps' ports): `/metrics` is the proxy's
// Prometheus text plus the control plane's gauges; `/healthz` is 200 once the first routes are
// loaded (what `slipway up` waits for), 503 before.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ControlPlaneStats {
  ready: boolean;
  version: number;
  apps: number;
  certs: number;
  redisConnected: boolean;
  routeLoads: number;
  routeLoadFailures: number;
  lastLoadMs: number;
  services: number;
  servicesSynced: number;
  backends: number;
  backendChanges: number;
  perService: [string, number][];
}

export interface AdminServer {
  server: Server;
  address: AddressInfo;
  close(): Promise<void>;
}

export function controlPlaneMetrics(s: ControlPlaneStats): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number, type = 'gauge') => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  gauge('slipway_router_routes_version', 'The version of the routes in use (the controller INCRs it on every change).', s.version);
  gauge('slipway_router_apps', 'Apps with a route.', s.apps);
  gauge('slipway_router_certificates', 'Certificates loaded.', s.certs);
  gauge('slipway_router_redis_connected', '1 when the route subscription is connected.', s.redisConnected ? 1 : 0);
  gauge('slipway_router_route_loads_total', 'Route reloads done.', s.routeLoads, 'counter');
  gauge('slipway_router_route_load_failures_total', 'Route reloads that failed (the old routes stay).', s.routeLoadFailures, 'counter');
  gauge('slipway_router_route_last_load_seconds', 'Unix time of the last route load.', Math.round(s.lastLoadMs / 1000));
  gauge('slipway_router_watched_services', 'Discovery services watched for backends.', s.services);
  gauge('slipway_router_backend_changes_total', 'Backend events applied.', s.backendChanges, 'counter');
  lines.push('# HELP slipway_router_backends Live (not draining) backends per service.', '# TYPE slipway_router_backends gauge');
  for (const [service, n] of s.perService) lines.push(`slipway_router_backends{service="${service.replace(/["\\\n]/g, '_')}"} ${n}`);
  return `${lines.join('\n')}\n`;
}

export async function startAdmin(o: { host: string; port: number; metrics: () => string; stats: () => ControlPlaneStats }): Promise<AdminServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      let body: string;
      try {
        body = o.metrics() + controlPlaneMetrics(o.stats());
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
    } else if (path === '/healthz') {
      const s = o.stats();
      const body = JSON.stringify({ status: s.ready ? 'ok' : 'starting', version: s.version, apps: s.apps, backends: s.backends, redis: s.redisConnected });
      res.writeHead(s.ready ? 200 : 503, { 'content-type': 'application/json' }).end(body);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /metrics, /healthz\n');
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    server,
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
