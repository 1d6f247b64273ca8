// The controller's Koa app: the middleware order, in one place, and the /v1 route table
// (apps, users, tokens, access, audit, meta, plus routes other parts of the controller add).
import Koa from 'koa';
import Router from '@koa/router';
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../layer0/common/errors.ts';
import type { Logger } from '../../layer0/common/logger.ts';
import type { Store } from './store/index.ts';
import type { App } from './types.ts';
import type { AnyRoute, ControllerState, Ctx } from './http/route.ts';
import { openApiDocument } from './http/openapi.ts';
import { requestId } from './middleware/request-id.ts';
import { accessLog } from './middleware/access-log.ts';
import { errorEdge } from './middleware/errors.ts';
import { prometheus } from './middleware/metrics.ts';
import { jsonBody, BODY_LIMIT } from './middleware/json-body.ts';
import { authenticate } from './middleware/authenticate.ts';
import { audit } from './middleware/audit.ts';
import { validate } from './middleware/validate.ts';
import { authorize } from './middleware/authorize.ts';
import { healthRouter } from './routes/health.ts';
import type { DeployDeps, RouteDeps } from './routes/deps.ts';
import { appRoutes } from './routes/apps.ts';
import { userRoutes } from './routes/users.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { accessRoutes } from './routes/access.ts';
import { auditRoutes } from './routes/audit.ts';
import { metaRoutes } from './routes/meta.ts';
import { DomainStore, domainRoutes } from './routes/domains.ts';
import { configRoutes } from './routes/config.ts';
import { formationRoutes } from './routes/formation.ts';
import { releaseRoutes } from './routes/releases.ts';
import { processRoutes } from './routes/processes.ts';
import { deploymentRoutes } from './routes/deployments.ts';
import { eventRoutes } from './routes/events.ts';
import { logRoutes } from './routes/logs.ts';
import { runRoutes } from './routes/run.ts';
import { routerRoutes, type RouterApiOptions } from './routes/router.ts';
import { RouterPublisher } from './router-publisher.ts';
import { apiLimits, Leases, type ApiLimits } from './limits.ts';

export interface ControllerDeps {
  redis: Redis;
  store: Store;
  log: Logger;
  /** More /v1 routes (releases, config, formation… from deploy/), built with the same deps. */
  routes?: (deps: RouteDeps) => AnyRoute[];
  /** The deploy core and layer 0's clients: adds config, formation, releases, builds, processes, deployments, domains and events. */
  deploy?: DeployDeps;
  onAppDeleted?: (app: App) => Promise<void>;
  onAppRenamed?: (app: App, oldName: string) => Promise<void>;
  bodyLimit?: number;
  /** The router's domain and HTTP port, for path-route hostnames and app URLs. */
  router?: RouterApiOptions;
  /** The web dashboard (web/app.ts): every path outside /v1, /git, /healthz and /readyz. */
  web?: Koa.Middleware;
  /** Per-tenant limits over the SLIPWAY_… settings (tests set small ones). */
  limits?: Partial<ApiLimits>;
}

export interface ControllerApp {
  koa: Koa<ControllerState>;
  /** The /v1 route table, in registration order. */
  routes: AnyRoute[];
  /** The Koa router built from it (tests compare it with the OpenAPI document). */
  router: Router<ControllerState>;
  openapi: Record<string, unknown>;
  /** Writes routes for the routers (startController runs its syncAll once at start). */
  publisher: RouterPublisher;
}

export function createControllerApp(deps: ControllerDeps): ControllerApp {
  // Every domain change and app lifecycle event reaches the routers through the publisher.
  let publisher: RouterPublisher | undefined;
  const domains = new DomainStore(deps.store, (appId) => publisher!.publish(appId), { domain: deps.router?.domain, verify: deps.router?.verifyDomains, resolver: deps.router?.dnsResolver });
  publisher = new RouterPublisher(deps.store, domains, deps.log);
  const d = deps.deploy;
  const routeDeps: RouteDeps = {
    store: deps.store,
    log: deps.log,
    limits: { ...apiLimits(), ...deps.limits },
    leases: new Leases(deps.redis),
    onAppCreated: async (app) => void (await publisher.publish(app.id)),
    // An app's processes, releases and rollouts go first, then its domains and routes, then what the caller adds.
    async onAppDeleted(app) {
      await d?.deploy.destroy(app);
      await domains.removeApp(app.id);
      await publisher.appDeleted(app);
      await deps.onAppDeleted?.(app);
    },
    async onAppRenamed(app, oldName) {
      await d?.deploy.appRenamed(app, oldName, { createdBy: 'platform' });
      await domains.renamed(app, oldName);
      await publisher.publish(app.id);
      await deps.onAppRenamed?.(app, oldName);
    },
  };
  let document: Record<string, unknown> = {};
  const routes = [
    ...appRoutes(routeDeps),
    ...accessRoutes(routeDeps),
    ...userRoutes(routeDeps),
    ...tokenRoutes(routeDeps),
    ...auditRoutes(routeDeps),
    ...metaRoutes(routeDeps, () => document),
    ...(d ? [...domainRoutes(routeDeps, domains), ...configRoutes(routeDeps, d), ...formationRoutes(routeDeps, d), ...releaseRoutes(routeDeps, d), ...processRoutes(routeDeps, d), ...runRoutes(routeDeps, d), ...deploymentRoutes(routeDeps, d), ...eventRoutes(routeDeps, d)] : []),
    ...routerRoutes(routeDeps, publisher, domains, deps.router),
    ...logRoutes(routeDeps),
    ...(deps.routes?.(routeDeps) ?? []),
  ];
  document = openApiDocument(routes);

  const v1 = new Router<ControllerState>({ prefix: '/v1' });
  for (const r of routes) {
    // Per route, in this order: who is calling (401), record the attempt if it mutates, read
    // the body (413, 400), check its shape (422), then existence and role (404, 403), then act.
    v1[r.method](r.path, authenticate(r, deps.store, deps.log), audit(r, deps.store, deps.log), jsonBody(deps.bodyLimit ?? BODY_LIMIT), validate(r), authorize(r, deps.store), handle(r));
  }

  const koa = new Koa<ControllerState>({ proxy: false });
  koa.silent = true; // errorEdge answers and logs every error; nothing reaches Koa's default handler
  koa
    .use(prometheus())
    .use(requestId())
    .use(accessLog(deps.log))
    .use(errorEdge(deps.log))
    .use(healthRouter(deps.redis, deps.router?.notReady).routes())
    .use(v1.routes())
    .use(deps.web ?? ((_ctx, next) => next()))
    .use(notFound());
  return { koa, routes, router: v1, openapi: document, publisher };
}

function handle(r: AnyRoute) {
  return async (ctx: Ctx) => {
    const { params, query, body } = ctx.state.input as { params: unknown; query: unknown; body: unknown };
    const out = await r.handler({ params, query, body, principal: ctx.state.principal as never, ctx, app: ctx.state.app });
    ctx.status = ctx.state.status ?? r.status ?? 200;
    if (r.response !== null) ctx.body = out;
  };
}

/** 405 with `Allow` for a known path and another method (the router matched the path only), else 404. */
function notFound() {
  return async (ctx: Ctx) => {
    const layers = (ctx as unknown as { matched?: { methods: string[] }[] }).matched ?? [];
    const allowed = [...new Set(layers.flatMap((l) => l.methods))];
    if (allowed.length) {
      ctx.set('Allow', allowed.join(', '));
      throw new SlipwayError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; use ${allowed.join(', ')}`);
    }
    throw new SlipwayError('not_found', `no route ${ctx.method} ${ctx.path}`);
  };
}
