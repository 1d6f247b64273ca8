// failover: three netns hosts (`slipway cluster up`) run a formation of six registered jobs; one
// host is SIGKILLed (agent and containers) and we time until all its jobs run on the other hosts
// AND are registered in discovery. Baseline: the discovery TTL the cluster runs with; target
// TTL + 3 s. Table only: 0 → 20 running jobs on a 1-host cluster through the scheduler, against
// 20 sequential create+start+wait of a container through the same agent's API.
// Run: `npx tsx test/bench/run.ts failover` or `npx tsx test/bench/failover.ts`.
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAgent, type AgentClient } from '../../layer0/agent/client.ts';
import { createDiscovery, DEFAULT_TTL_MS } from '../../layer0/discovery/client.ts';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import type { FormationInput } from '../../layer0/scheduler/types.ts';
import { clusterUp, type TestCluster } from '../helpers/cluster.ts';
import { busyboxRootfsTar } from '../helpers/fixtures.ts';
import { finish, median, table } from './report.ts';
import { sleep } from '../helpers/wait.ts';

const TTL_S = DEFAULT_TTL_MS / 1000; // what `slipway cluster up` gives its agents and schedulers
const TARGET_S = TTL_S + 3;
const N = 20;

async function until(what: string, fn: () => Promise<boolean>, ms: number, everyMs = 50): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A cluster of `hosts` with the busybox tar served on its bridge's gateway (the address its hosts reach). */
async function withCluster<T>(hosts: number, fn: (c: TestCluster, imageUrl: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'slwt-bench-fo-'));
  const c = await clusterUp({ hosts, memory: '2g', cpus: '1' });
  let srv: Server | null = null;
  try {
    const tar = await busyboxRootfsTar(dir);
    const s = createServer((_req, res) => createReadStream(tar).pipe(res));
    srv = s;
    await new Promise<void>((r) => s.listen(0, c.state().gateway, () => r()));
    return await fn(c, `http://${c.state().gateway}:${(s.address() as { port: number }).port}/bb.tar`);
  } finally {
    srv?.close();
    await c.down();
    rmSync(dir, { recursive: true, force: true });
  }
}

function formation(id: string, count: number, imageUrl: string, service?: string): FormationInput {
  return {
    id,
    jobs: {
      web: {
        count, image: 'bench-bb:1', imageUrl, cmd: ['httpd', '-f', '-p', '8080', '-h', '/'], ports: [8080], memory: 32 * 1024 * 1024,
        drainSec: 0, stopGraceSec: 1, ...(service ? { service, health: { type: 'tcp' as const, timeoutMs: 10_000, intervalMs: 100 } } : {}),
      },
    },
  };
}

const running = async (agent: AgentClient, formationId: string) =>
  (await agent.listContainers({ labels: [`slipway.formation=${formationId}`] })).filter((x) => x.State === 'running').length;

/** Seconds from SIGKILLing host 2 until hosts 1 and 3 run 3 jobs each and discovery lists 6, none on host 2. */
async function failover(): Promise<number> {
  return withCluster(3, async (c, imageUrl) => {
    const d = createDiscovery({ url: c.redisSocketUrl, sweepMs: 0 });
    const client = createSchedulerClient({ redisUrl: c.redisSocketUrl });
    try {
      const agents = c.hosts.map((h) => connectAgent({ socketPath: h.socketPath }));
      await client.putFormation(formation('fo', 6, imageUrl, 'fo-web'));
      await until('6 running and registered', async () =>
        (await Promise.all(agents.map((a) => running(a, 'fo')))).every((n) => n === 2) && (await d.instances('fo-web')).length === 6, 60_000, 200);
      const victim = c.hosts[1]!;
      const t0 = performance.now();
      await c.killHost(victim.index);
      await until('jobs replaced and registered', async () => {
        const [a, b] = await Promise.all([running(agents[0]!, 'fo'), running(agents[2]!, 'fo')]);
        const inst = await d.instances('fo-web');
        return a === 3 && b === 3 && inst.length === 6 && inst.every((i) => !i.addr.startsWith(`${victim.address}:`));
      }, 30_000);
      return (performance.now() - t0) / 1000;
    } finally {
      client.close();
      await d.close();
    }
  });
}

/** 0 → N running jobs on one host through the scheduler, and N sequential container starts on the same agent. */
async function ramp(): Promise<{ schedulerS: number; sequentialS: number; perStartMs: number }> {
  return withCluster(1, async (c, imageUrl) => {
    const client = createSchedulerClient({ redisUrl: c.redisSocketUrl });
    try {
      const agent = connectAgent({ socketPath: c.hosts[0]!.socketPath });
      // The image is on the host before either side is timed (as a warm host would have it).
      await agent.importImageFromUrl(imageUrl, { repo: 'bench-bb', tag: '1' });
      const once = async (): Promise<number> => {
        const t0 = performance.now();
        const id = await agent.createContainer({ Image: 'bench-bb:1', Cmd: ['true'], HostConfig: { NetworkMode: 'bridge' } });
        const exited = agent.waitContainer(id, 'next-exit');
        await agent.startContainer(id);
        const code = await exited;
        const ms = performance.now() - t0;
        await agent.removeContainer(id, true);
        if (code !== 0) throw new Error(`container exited ${code}`);
        return ms;
      };
      await once(); // warm-up
      const starts: number[] = [];
      for (let i = 0; i < N; i++) starts.push(await once());
      const t0 = performance.now();
      await client.putFormation(formation('ramp', N, imageUrl));
      await until(`${N} running`, async () => (await running(agent, 'ramp')) === N, 120_000);
      const schedulerS = (performance.now() - t0) / 1000;
      return { schedulerS, sequentialS: starts.reduce((a, b) => a + b, 0) / 1000, perStartMs: median(starts) };
    } finally {
      client.close();
    }
  });
}

const value = await failover();
const r = await ramp();
console.log(table([
  ['measure', 'seconds', 'note'],
  ['host kill → jobs replaced + registered', value, `TTL ${TTL_S} s, target ${TARGET_S} s`],
  [`0 → ${N} running via the scheduler (1 host)`, r.schedulerS, 'putFormation until all running'],
  [`${N} × create+start+wait via the agent`, r.sequentialS, `sequential; median ${r.perStartMs.toFixed(1)} ms each`],
  ['ratio scheduler / sequential', r.schedulerS / r.sequentialS, ''],
]));
finish({
  bench: 'failover', metric: 'seconds from host kill to all jobs replaced and registered', value: +value.toFixed(2), baseline: TTL_S,
  ratio: +(value / TTL_S).toFixed(3), target: TARGET_S, unit: 's', pass: value <= TARGET_S,
});
