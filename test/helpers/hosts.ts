// In-process cluster hosts for tests: a fresh Redis, the busybox image served over HTTP (jobs
// fetch it with `imageUrl`), and real agents (each its own prefix, dirs, TCP port with a token
// and advertised capacity) that join discovery; teardown removes everything and returns leaks.
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAgent } from '../../layer0/agent/client.ts';
import { startAgent, type RunningAgent } from '../../layer0/agent/daemon.ts';
import { silentLogger } from '../../layer0/common/logger.ts';
import type { SlipwayPaths } from '../../layer0/common/paths.ts';
import { createDiscovery } from '../../layer0/discovery/client.ts';
import type { Discovery } from '../../layer0/discovery/types.ts';
import { cleanupByPrefix } from '../../layer0/network/index.ts';
import { removeCgroupParent } from '../../layer0/runtime/index.ts';
import { busyboxRootfsTar } from './fixtures.ts';
import { findLeaks } from './leaks.ts';
import { startTestRedis, type TestRedis } from './redis.ts';
import { testPrefix } from './runtime.ts';
import { freePort } from './wait.ts';

export interface TestHost {
  paths: SlipwayPaths;
  agent: RunningAgent;
  discovery: Discovery;
  /** The agent's TCP port on 127.0.0.1 (bearer token). */
  port: number;
}

export interface TestHosts {
  readonly dir: string;
  readonly redis: TestRedis;
  /** Where hosts fetch the busybox image (`bb:1`) when they lack it. */
  readonly imageUrl: string;
  readonly hosts: TestHost[];
  /** Another discovery client on the same Redis and key prefix (closed by `teardown`). */
  discovery(): Discovery;
  /** Removes every container, stops the agents and discovery clients, then the image server and Redis go, the kernel is cleaned by prefix, the dir is removed; resolves with what was still left. */
  teardown(): Promise<string[]>;
}

export interface TestHostsOptions {
  keyPrefix: string;
  /** Advertised memory per host, in bytes (one host each). */
  capacities: number[];
  /** One letter or two for the prefixes (`<suite prefix><tag><i>`). */
  tag: string;
  token: string;
  ttlMs: number;
  heartbeatMs?: number;
}

export async function startTestHosts(o: TestHostsOptions): Promise<TestHosts> {
  const dir = mkdtempSync(join(tmpdir(), `slwt-hosts-${o.tag}-`));
  const redis = await startTestRedis();
  const tar = await busyboxRootfsTar(dir);
  const tarServer: Server = createServer((_req, res) => createReadStream(tar).pipe(res));
  await new Promise<void>((r) => tarServer.listen(0, '127.0.0.1', () => r()));
  const imageUrl = `http://127.0.0.1:${(tarServer.address() as { port: number }).port}/bb.tar`;
  const discoveries: Discovery[] = [];
  const discovery = () => {
    const d = createDiscovery({ url: redis.url, ttlMs: o.ttlMs, heartbeatMs: o.heartbeatMs ?? 400, keyPrefix: o.keyPrefix });
    discoveries.push(d);
    return d;
  };
  const hosts: TestHost[] = [];
  for (const [i, memory] of o.capacities.entries()) {
    const paths: SlipwayPaths = { home: join(dir, `h${i}`, 'home'), run: join(dir, `h${i}`, 'run'), cache: '/var/cache/slipway', prefix: testPrefix(`${o.tag}${i}`) };
    const port = await freePort();
    const d = discovery();
    const agent = await startAgent({
      paths, log: process.env.DEBUG_HOSTS ? (await import('../../layer0/common/logger.ts')).createLogger(`agent${i}`, 'debug') : silentLogger,
      tcp: { host: '127.0.0.1', port, token: o.token }, capacity: { memory, cpus: 2 },
      cluster: { discovery: d, address: '127.0.0.1', agentUrl: `http://127.0.0.1:${port}`, ttlMs: o.ttlMs, heartbeatMs: o.heartbeatMs ?? 400 },
    });
    hosts.push({ paths, agent, discovery: d, port });
  }
  const stopAgents = async () => {
    for (const h of hosts) {
      const a = connectAgent({ socketPath: join(h.paths.run, 'agent.sock') });
      for (const c of await a.listContainers({ all: true }).catch(() => [])) await a.removeContainer(c.Id, true).catch(() => undefined);
      await h.agent.leave().catch(() => undefined);
      await h.agent.close();
    }
    for (const d of discoveries) await d.close();
  };
  return {
    dir, redis, imageUrl, hosts, discovery,
    async teardown() {
      await stopAgents();
      tarServer.close();
      await redis.cleanup();
      const out: string[] = [];
      for (const h of hosts) {
        await cleanupByPrefix(h.paths.prefix);
        removeCgroupParent(h.paths.prefix);
        out.push(...(await findLeaks(h.paths.prefix, { runcRoots: [join(h.paths.run, 'runc')] })));
      }
      rmSync(dir, { recursive: true, force: true });
      return out;
    },
  };
}
