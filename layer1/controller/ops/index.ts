// The controller's operations side: `GET /v1/status`, `DELETE /v1/apps/:app/build-cache`, and the
// disk collector. The composition root adds the routes through startController's `routes` option
// and starts the collector beside the controller.
import type { AnyRoute } from '../http/route.ts';
import { buildCacheRoutes } from '../routes/build-cache.ts';
import type { RouteDeps } from '../routes/deps.ts';
import { statusRoutes } from '../routes/status.ts';
import { createStatus, type StatusDeps } from './status.ts';

export { startDiskCollector, COLLECT_EVERY_MS, type DiskCollector, type CollectResult, type CollectorOptions } from './collector.ts';
export { createStatus, processCounts, type PlatformStatus, type StatusDeps } from './status.ts';

/** The status and build-cache routes, over the controller's own Redis connection and key prefix. */
export function opsRoutes(deps: RouteDeps, o: Omit<StatusDeps, 'redis' | 'keyPrefix'>): AnyRoute[] {
  const status = createStatus({ ...o, redis: deps.store.redis, keyPrefix: deps.store.keys.prefix });
  return [...statusRoutes(deps, status), ...buildCacheRoutes(o.home)];
}
