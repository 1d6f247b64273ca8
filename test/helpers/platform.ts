// A whole platform in this process for API tests: a real Redis, two real agents (busybox images
// fetched over HTTP from a tar this helper serves), the scheduler, and the controller with its
// deploy core and every route. Fast rollout settings (no drain, 1 s stop grace). `close()` removes
// the apps' processes, stops everything, and returns the leaks it found (none expected).
import { join } from 'node:path';
import { connectAgent } from '../../layer0/agent/client.ts';
import type { Discovery } from '../../layer0/discovery/types.ts';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import { startScheduler, type RunningScheduler } from '../../layer0/scheduler/scheduler.ts';
import type { SchedulerClient } from '../../layer0/scheduler/types.ts';
import { createDeploy, type Deploy, type OrchestratorOptions } from '../../layer1/controller/deploy/index.ts';
import { startTestController, type TestController } from './controller.ts';
import { until } from './wait.ts';
import { startTestHosts, type TestHost } from './hosts.ts';
import { silentLogger } from '../../layer0/common/logger.ts';
import type { StartControllerOptions } from '../../layer1/controller/server.ts';

const TOKEN = 'platform-test-token';
const TTL = 2000;

export type Host = TestHost;

export interface TestPlatform extends Omit<TestController, 'close'> {
  /** Where agents fetch the busybox image (`bb:1`) when they lack it. */
  readonly imageUrl: string;
  readonly hosts: Host[];
  readonly deploy: Deploy;
  readonly scheduler: SchedulerClient;
  readonly discovery: Discovery;
  /** Every container of a formation (app id) on both hosts, from the agents themselves. */
  containers(formationId: string): Promise<{ id: string; state: string; env: string[]; release: string }[]>;
  /** Stops everything; resolves with the leaks found (kernel objects of this instance's prefix). */
  close(): Promise<string[]>;
}

export interface PlatformOptions {
  hosts?: number;
  deployOptions?: OrchestratorOptions;
  /** SSE keep-alive interval of the controller. */
  heartbeatMs?: number;
  /** More /v1 routes for the controller (startController's `routes`), given layer 0's clients. */
  routes?: (deps: Parameters<NonNullable<StartControllerOptions['routes']>>[0], l0: { discovery: Discovery; scheduler: SchedulerClient }) => ReturnType<NonNullable<StartControllerOptions['routes']>>;
  /** The controller's SLIPWAY_HOME (default a temp dir removed at close). */
  home?: string;
}

export async function startTestPlatform(o: PlatformOptions = {}): Promise<TestPlatform> {
  // The busybox tar is served on loopback, which tenants' image URLs may not reach unless the
  // operator allows it (issue 13, M3): this platform's operator does.
  process.env.SLIPWAY_URL_ALLOW ??= '127.0.0.1';
  const kp = 'l0:';
  const cluster = await startTestHosts({ keyPrefix: kp, capacities: new Array(o.hosts ?? 2).fill(2 * 1024 ** 3), tag: 'p', token: TOKEN, ttlMs: TTL });
  const { hosts, discovery, redis, imageUrl } = cluster;
  const scheduler: RunningScheduler = startScheduler({ redisUrl: redis.url, discovery: discovery(), agentToken: TOKEN, keyPrefix: kp, ttlMs: TTL, resyncMs: 1000, log: silentLogger });
  const client = createSchedulerClient({ redisUrl: redis.url, keyPrefix: kp });
  const ctlPrefix = redis.prefix('ctl');
  const disc = discovery();
  const deploy = createDeploy({
    redis: redis.url, keyPrefix: ctlPrefix, scheduler: client, discovery: disc, agentToken: TOKEN,
    options: { timeoutMs: 15_000, stableMs: 1000, pollMs: 100, drainSec: 0, stopGraceSec: 1, healthIntervalMs: 100, ...o.deployOptions },
  });
  await deploy.start();
  const c = await startTestController({
    redis, keyPrefix: ctlPrefix, home: o.home,
    routes: o.routes ? (deps) => o.routes!(deps, { discovery: disc, scheduler: client }) : undefined,
    deploy: { deploy, scheduler: client, discovery: disc, agentToken: TOKEN, waitMs: 60_000, heartbeatMs: o.heartbeatMs },
  });

  async function containers(formationId: string) {
    const out = [];
    for (const h of hosts) {
      const a = connectAgent({ socketPath: join(h.paths.run, 'agent.sock') });
      for (const ct of await a.listContainers({ all: true, labels: [`slipway.formation=${formationId}`] })) {
        const info = await a.inspectContainer(ct.Id).catch(() => null);
        out.push({ id: ct.Id, state: ct.State, env: info?.Config.Env ?? [], release: ct.Labels['slipway.release'] ?? '' });
      }
    }
    return out;
  }

  return {
    ...c,
    imageUrl, hosts, deploy, scheduler: client, discovery: disc, containers,
    async close(): Promise<string[]> {
      // Every app's formation goes; the scheduler stops their processes.
      for (const f of await client.listFormations().catch(() => [])) await client.deleteFormation(f.id).catch(() => undefined);
      await until('every process stopped', async () => (await client.listJobs()).length === 0, 30_000).catch(() => undefined);
      await c.close();
      await deploy.close();
      await scheduler.close();
      client.close();
      return cluster.teardown();
    },
  };
}
