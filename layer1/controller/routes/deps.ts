// What the route files take as arguments (no singletons): the store, a logger, and the
// hooks through which other parts of the controller (deploy/) learn of app lifecycle events.
import type { Logger } from '../../../layer0/common/logger.ts';
import type { Discovery } from '../../../layer0/discovery/index.ts';
import type { SchedulerClient } from '../../../layer0/scheduler/index.ts';
import type { Deploy } from '../deploy/index.ts';
import type { Store } from '../store/index.ts';
import type { App } from '../types.ts';
import type { ApiLimits, Leases } from '../limits.ts';

export interface RouteDeps {
  store: Store;
  log: Logger;
  /** What one tenant may hold at once (limits.ts), and the leases that count it. */
  limits: ApiLimits;
  leases: Leases;
  /** Called by POST /v1/apps once the app exists (the router learns its default hostname). */
  onAppCreated?(app: App): Promise<void>;
  /** Called by DELETE /v1/apps/:app before its records go: stop processes, drop routes, builds, releases. */
  onAppDeleted(app: App): Promise<void>;
  /** Called after a rename (the app id is stable; only names derived from it need updating). */
  onAppRenamed(app: App, oldName: string): Promise<void>;
}

/** What the deploy routes (config, formation, releases, processes, deployments, events) add. */
export interface DeployDeps {
  deploy: Deploy;
  scheduler: SchedulerClient;
  /** To reach a process's host agent (DELETE /processes/:id); without it that route answers 503. */
  discovery?: Discovery;
  agentToken?: string;
  /** How long `?wait=true` waits for a rollout before answering with its state so far (default 10 min). */
  waitMs?: number;
  /** SSE keep-alive comment interval (default 15 s). */
  heartbeatMs?: number;
}
