// The deploy core's face for the controller's routes: createDeploy() wires the store, the
// orchestrator and the release functions over one Redis connection and a scheduler client.
import type { Redis } from 'ioredis';
import { connectRedis, type Discovery } from '../../../layer0/discovery/index.ts';
import type { Logger } from '../../../layer0/common/logger.ts';
import type { SchedulerClient } from '../../../layer0/scheduler/index.ts';
import { Orchestrator, type OrchestratorOptions } from './orchestrator.ts';
import { Releases } from './releases.ts';
import { DeployStore, KEY_PREFIX } from './store.ts';
import type { ProcessLimits } from './process-isolation.ts';

export * from './types.ts';
export { Releases, parseVersion, type ChangeBy, type Rollout } from './releases.ts';
export { Orchestrator, type OrchestratorOptions, type WaitOptions } from './orchestrator.ts';
export { DeployStore } from './store.ts';
export { validateConfigChanges, parseMemory, formatMemory } from './config.ts';
export { APP_USER, APP_CAP_DROP, processLimits, processLimitsFromEnv, type ProcessLimits } from './process-isolation.ts';
export { formationId, webService, processCommand, slugEnv, SLUG_LAUNCHER, LABEL_APP, LABEL_APP_ID, LABEL_RELEASE, LABEL_TYPE } from './formation.ts';

export interface DeployOptions {
  /** An ioredis connection (shared with the controller), or a URL to open one. */
  redis: Redis | string;
  keyPrefix?: string;
  scheduler: SchedulerClient;
  discovery?: Discovery;
  agentToken?: string;
  log?: Logger;
  options?: OrchestratorOptions;
}

export type Deploy = Releases & {
  /** The pids limit and CPU weight settings, for processes started outside the formation (one-offs). */
  readonly limits: ProcessLimits;
  /** Resumes queued and interrupted rollouts; resyncs periodically. */
  start(): Promise<void>;
  /** Stops the workers (a running rollout resumes at the next start) and closes an owned connection. */
  close(): Promise<void>;
};

export function createDeploy(o: DeployOptions): Deploy {
  const owned = typeof o.redis === 'string';
  const redis = typeof o.redis === 'string' ? connectRedis(o.redis, { name: 'controller-deploy' }) : o.redis;
  const store = new DeployStore(redis, o.keyPrefix ?? KEY_PREFIX);
  const orchestrator = new Orchestrator({ store, scheduler: o.scheduler, discovery: o.discovery, agentToken: o.agentToken, log: o.log, options: o.options });
  const releases = new Releases(store, orchestrator, o.scheduler);
  return Object.assign(releases, {
    limits: o.options?.limits ?? {},
    start: () => orchestrator.start(),
    async close() {
      await orchestrator.close();
      if (owned) redis.disconnect();
    },
  });
}
