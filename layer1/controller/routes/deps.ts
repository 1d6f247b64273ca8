// What the route files take as arguments (no singletons): the store, a logger, and the
// hooks through which other parts of the controller (deploy/) learn of app lifecycle events.
import type { Logger } from '../../../layer0/common/logger.ts';
import type { Store } from '../store/index.ts';
import type { App } from '../types.ts';

export interface RouteDeps {
  store: Store;
  log: Logger;
  /** Called by DELETE /v1/apps/:app before its records go: stop processes, drop routes, builds, releases. */
  onAppDeleted(app: App): Promise<void>;
  /** Called after a rename (the app id is stable; only names derived from it need updating). */
  onAppRenamed(app: App, oldName: string): Promise<void>;
}
