// The deploy core against a real Redis, a real scheduler and two real in-process agents running
// busybox containers: a release from an image rolls out health-gated, scales 1 → 3 → 1, restarts,
// a config change rolls out without an empty backend set, rollback, a crashing release rolls back
// by itself with the crash and its output in the record, and 50 parallel config changes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectAgent } from '../../layer0/agent/client.ts';
import { silentLogger } from '../../layer0/common/logger.ts';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import { startScheduler, type RunningScheduler } from '../../layer0/scheduler/scheduler.ts';
import type { Job, SchedulerClient } from '../../layer0/scheduler/types.ts';
import { createDeploy, type Deploy, type Deployment } from '../../layer1/controller/deploy/index.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';
import { startTestHosts, type TestHost, type TestHosts } from '../helpers/hosts.ts';

const TOKEN = 'deploy-test-token';
const TTL = 2000;
const KP = 'dt:';
const app = { id: 'a7f3', name: 'shop' };
const by = { createdBy: 'ann' };
const WEB = 'httpd -f -p $PORT -h /';

let redis: TestRedis;
let imageUrl = '';
let cluster: TestHosts;
let hosts: TestHost[] = [];
let scheduler: RunningScheduler;
let client: SchedulerClient & { close(): void };
let deploy: Deploy;
/** A second deploy core with a short timeout, for its own app only (never started, so it resumes nothing). */
let quick: Deploy;
const slow = { id: 'b8e4', name: 'slow' };

const discovery = () => cluster.discovery();
const jobs = () => client.listJobs({ formationId: app.id });
const web = (js: Job[]) => js.filter((j) => j.labels['slipway.type'] === 'web');
const settled = async (d: Deployment | null) => {
  assert.ok(d, 'a deployment was queued');
  const end = await deploy.waitForDeployment(app, d.id, { timeoutMs: 60_000 });
  if (process.env.DEBUG_DEPLOY) console.log(`deployment ${end.id} (${end.kind}) ${end.state}:\n  ${end.log.join("\n  ")}`);
  return end;
};
/** Containers of the app on both hosts, from the agents themselves. */
async function containers(): Promise<{ id: string; state: string; env: string[]; release: string }[]> {
  const out = [];
  for (const h of hosts) {
    const a = connectAgent({ socketPath: join(h.paths.run, 'agent.sock') });
    for (const c of await a.listContainers({ all: true, labels: [`slipway.formation=${app.id}`] })) {
      const info = await a.inspectContainer(c.Id).catch(() => null);
      out.push({ id: c.Id, state: c.State, env: info?.Config.Env ?? [], release: c.Labels['slipway.release'] ?? '' });
    }
  }
  return out;
}
/** After a rollout: exactly `n` web processes, all of `release`, running and registered. */
async function serving(n: number, release: string): Promise<Job[]> {
  return until(`${n} × ${release} serving`, async () => {
    const js = web(await jobs());
    const cs = await containers();
    const ok = js.length === n && js.every((j) => j.state === 'running' && j.registered && j.labels['slipway.release'] === release) &&
      cs.length === n && (await hosts[0]!.discovery.instances('shop-web')).length === n;
    return ok && js;
  }, 20_000);
}

const newDeploy = () => createDeploy({
  redis: redis.url, scheduler: client, discovery: discovery(), agentToken: TOKEN,
  options: { timeoutMs: 15_000, stableMs: 1000, pollMs: 100, drainSec: 0, stopGraceSec: 1, healthIntervalMs: 100 },
});

before(async () => {
  cluster = await startTestHosts({ keyPrefix: KP, capacities: [2 * 1024 ** 3, 2 * 1024 ** 3], tag: 'd', token: TOKEN, ttlMs: TTL });
  ({ hosts, redis, imageUrl } = cluster);
  scheduler = startScheduler({ redisUrl: redis.url, discovery: discovery(), agentToken: TOKEN, keyPrefix: KP, ttlMs: TTL, resyncMs: 1000, log: silentLogger });
  client = createSchedulerClient({ redisUrl: redis.url, keyPrefix: KP });
  deploy = newDeploy();
  await deploy.start();
  quick = createDeploy({ redis: redis.url, scheduler: client, options: { timeoutMs: 3000, pollMs: 100, drainSec: 0, stopGraceSec: 1, healthIntervalMs: 100 } });
});

after(async () => {
  await deploy.destroy(app).catch(() => undefined);
  await quick.destroy(slow).catch(() => undefined);
  await until('the apps\' containers gone', async () => (await containers()).length + (await client.listJobs({ formationId: slow.id })).length === 0, 30_000).catch(() => undefined);
  await deploy.close();
  await quick.close();
  await scheduler.close();
  client.close();
  assert.deepEqual(await cluster.teardown(), []);
});

describe('controller deploys', { timeout: 150_000 }, () => {
  it('a release from an image rolls out: web registered as shop-web, with PORT and the platform env', async () => {
    const { release, deployment } = await deploy.createRelease(app, { image: 'bb:1', imageUrl, procfile: { web: WEB }, createdBy: 'ann' });
    assert.equal(release?.version, 1);
    const d = await settled(deployment);
    assert.equal(d.state, 'succeeded', JSON.stringify(d));
    assert.equal(d.from, null);
    assert.equal(d.to, 1);
    const [job] = await serving(1, 'v1');
    assert.equal((await deploy.getRelease(app, 1)).status, 'deployed');
    assert.equal((await deploy.currentRelease(app))?.version, 1);
    const [c] = await containers();
    for (const e of ['PORT=5000', 'SLIPWAY_APP=shop', 'SLIPWAY_RELEASE=v1']) assert.ok(c!.env.includes(e), `${e} in ${c!.env.join(' ')}`);
    const res = await fetch(`http://${job!.ports['5000']}/`);
    assert.ok(res.status < 500, `httpd answered ${res.status}`);
    await res.arrayBuffer();
  });

  it('scales 1 → 3 → 1 keeping the running process', async () => {
    const [first] = await serving(1, 'v1');
    const up = await deploy.scale(app, { web: 3 }, by);
    assert.deepEqual(up.formation, { web: { count: 3, memory: '256M', cpu: 0 } });
    assert.equal((await settled(up.deployment)).state, 'succeeded');
    const three = await serving(3, 'v1');
    assert.ok(three.some((j) => j.id === first!.id), 'the first process was kept');
    assert.equal(new Set(three.map((j) => j.hostId)).size, 2, 'spread over both hosts');
    const dynos = (await containers()).map((c) => c.env.find((e) => e.startsWith('DYNO='))).sort();
    assert.deepEqual(dynos, ['DYNO=web.1', 'DYNO=web.2', 'DYNO=web.3']);
    const down = await deploy.scale(app, { web: 1 }, by);
    assert.equal((await settled(down.deployment)).state, 'succeeded');
    await serving(1, 'v1');
  });

  it('restart replaces every process with a new one', async () => {
    const [before] = await serving(1, 'v1');
    const d = await settled(await deploy.restart(app, undefined, by));
    assert.equal(d.state, 'succeeded', d.log.join('\n'));
    const [after] = await serving(1, 'v1');
    assert.notEqual(after!.id, before!.id);
    assert.equal(after!.labels['slipway.restart'], '1');
  });

  it('a config change makes v2 and rolls it out with no moment without a registered backend', async () => {
    await deploy.scale(app, { web: 2 }, by).then((s) => settled(s.deployment));
    await serving(2, 'v1');
    let min = Infinity;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        min = Math.min(min, (await hosts[0]!.discovery.instances('shop-web')).length);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const { release, deployment } = await deploy.setConfig(app, { GREETING: 'hello' }, by);
    assert.equal(release?.version, 2);
    const d = await settled(deployment);
    watching = false;
    await watcher;
    assert.equal(d.state, 'succeeded', d.log.join('\n'));
    assert.ok(min >= 1, `the web service had ${min} instances during the rollout`);
    await serving(2, 'v2');
    assert.ok((await containers()).every((c) => c.env.includes('GREETING=hello')));
  });

  it('rollback makes v3 from v1 (image and config) and runs it', async () => {
    const { release, deployment } = await deploy.rollback(app, undefined, by);
    assert.equal(release?.version, 3);
    assert.equal(release?.reason, 'Rollback to v1');
    assert.deepEqual(release?.config, {});
    assert.equal((await settled(deployment)).state, 'succeeded');
    await serving(2, 'v3');
    assert.deepEqual(await deploy.getConfig(app), {});
    assert.ok((await containers()).every((c) => !c.env.includes('GREETING=hello')));
  });

  it('a release whose process crashes rolls back by itself; the record names the crash and its output', async () => {
    const { release, deployment } = await deploy.createRelease(app, { image: 'bb:1', imageUrl, procfile: { web: 'echo booting; echo boom >&2; exit 1' }, createdBy: 'ann' });
    assert.equal(release?.version, 4);
    const d = await settled(deployment);
    assert.equal(d.state, 'failed');
    assert.equal(d.failure?.check, 'crashed');
    assert.match(d.failure!.message, /web process crashed: exited with code 1/);
    assert.match(d.failure!.message, /rolled back to v3/);
    assert.ok(d.failure!.output.includes('boom'), `output: ${JSON.stringify(d.failure!.output)}`);
    const r = await deploy.getRelease(app, 4);
    assert.equal(r.status, 'failed');
    assert.equal(r.failure?.check, 'crashed');
    assert.equal((await deploy.currentRelease(app))?.version, 3);
    await serving(2, 'v3');
    // A bare rollback skips the failed release; the next config change builds on v3's image.
    const next = await deploy.setConfig(app, { AFTER: 'crash' }, by);
    assert.equal(next.release?.procfile.web, WEB);
    assert.equal((await settled(next.deployment)).state, 'succeeded');
    await serving(2, 'v5');
  });

  it('a controller stopped mid-rollout resumes it at its next start', async () => {
    const current = `v${(await deploy.currentRelease(app))!.version}`;
    const d = await deploy.restart(app, undefined, by);
    await until('the rollout started new processes', async () => web(await jobs()).some((j) => j.jobName === `web-${d!.id}`), 10_000, 20);
    await deploy.close();
    deploy = newDeploy();
    assert.equal((await deploy.getDeployment(app, d!.id)).state, 'running');
    await deploy.start();
    const end = await settled(d);
    assert.equal(end.state, 'succeeded', end.log.join('\n'));
    const js = await serving(2, current);
    assert.ok(js.every((j) => j.jobName === `web-${d!.id}`));
  });

  it('a rename rolls the processes out under the new service name', async () => {
    const renamed = { ...app, name: 'shop-two' };
    const d = await settled(await deploy.appRenamed(renamed, app.name, by));
    assert.equal(d.state, 'succeeded', d.log.join('\n'));
    await until('registered as shop-two-web only', async () =>
      (await hosts[0]!.discovery.instances('shop-two-web')).length === 2 && (await hosts[0]!.discovery.instances('shop-web')).length === 0);
    assert.ok((await containers()).every((c) => c.env.includes('SLIPWAY_APP=shop-two')));
    await settled(await deploy.appRenamed(app, renamed.name, by)); // back, for the tests after
    await serving(2, `v${(await deploy.currentRelease(app))!.version}`);
  });

  it('50 parallel config changes: 50 keys, 50 consecutive versions, the last rollout wins', async () => {
    const from = (await deploy.currentRelease(app))!.version;
    const out = await Promise.all(Array.from({ length: 50 }, (_, i) => deploy.setConfig(app, { [`K${i}`]: String(i) }, by)));
    const versions = out.map((o) => o.release!.version).sort((a, b) => a - b);
    assert.deepEqual(versions, Array.from({ length: 50 }, (_, i) => from + 1 + i));
    const last = versions[49]!;
    const ends = await Promise.all(out.map((o) => settled(o.deployment)));
    for (const e of ends) assert.equal(e.to, last, 'every wait ends at the last rollout');
    assert.ok(ends.every((e) => e.state === 'succeeded'));
    assert.equal((await deploy.currentRelease(app))?.version, last);
    const config = await deploy.getConfig(app);
    for (let i = 0; i < 50; i++) assert.equal(config[`K${i}`], String(i));
    await serving(2, `v${last}`);
    const env = (await containers())[0]!.env;
    for (let i = 0; i < 50; i++) assert.ok(env.includes(`K${i}=${i}`));
    const deps = (await deploy.listDeployments(app, { limit: 500 })).items;
    assert.ok(deps.filter((d) => d.state === 'superseded').length >= 40, 'most queued rollouts were superseded');
    assert.equal(deps.filter((d) => d.state === 'queued' || d.state === 'running').length, 0);
  });

  it('two controllers on one Redis: an app\'s rollouts run one at a time, whichever controller queued them', async () => {
    const other = newDeploy();
    await other.start();
    try {
      const since = new Date().toISOString();
      const out = [];
      for (let i = 0; i < 6; i++) {
        out.push(await (i % 2 ? other : deploy).restart(app, undefined, by));
        await new Promise((r) => setTimeout(r, 150));
      }
      for (const d of out) assert.ok(['succeeded', 'superseded'].includes((await settled(d)).state));
      const ran = (await deploy.listDeployments(app, { limit: 500 })).items
        .filter((d) => d.startedAt && d.startedAt >= since)
        .sort((a, b) => (a.startedAt! < b.startedAt! ? -1 : 1));
      assert.ok(ran.length >= 2, `${ran.length} rollouts ran`);
      for (let i = 1; i < ran.length; i++) assert.ok(ran[i]!.startedAt! >= ran[i - 1]!.finishedAt!, `rollouts ${ran[i - 1]!.id} and ${ran[i]!.id} overlapped`);
      await serving(2, `v${(await deploy.currentRelease(app))!.version}`);
    } finally {
      await other.close();
    }
  });

  it('a release whose web answers 500 never passes its health check: it fails after the timeout; the previous one keeps serving', async () => {
    const ok = await quick.createRelease(slow, { image: 'bb:1', imageUrl, procfile: { web: WEB }, createdBy: 'ann' });
    assert.equal((await quick.waitForDeployment(slow, ok.deployment!.id)).state, 'succeeded');
    // Accepts connections but answers every GET with a 500: the TCP part passes, the HTTP part never.
    const failing = `nc -ll -p $PORT -e sh -c 'printf "HTTP/1.0 500 Broken\\r\\n\\r\\n"'`;
    const bad = await quick.createRelease(slow, { image: 'bb:1', imageUrl, procfile: { web: failing }, createdBy: 'ann' });
    const t0 = Date.now();
    const d = await quick.waitForDeployment(slow, bad.deployment!.id);
    assert.equal(d.state, 'failed');
    assert.ok(Date.now() - t0 >= 3000, 'not before the timeout');
    assert.equal(d.failure?.check, 'health');
    assert.match(d.failure!.message, /web: 0 of 1 processes passed the health check \(GET \/ below 500 on port 5000\) within 3 s; rolled back to v1/);
    assert.equal((await quick.getRelease(slow, 2)).status, 'failed');
    await until('only v1 left, registered', async () => {
      const js = await client.listJobs({ formationId: slow.id });
      return js.length === 1 && js[0]!.labels['slipway.release'] === 'v1' && js[0]!.registered;
    });
    assert.equal((await hosts[0]!.discovery.instances('slow-web')).length, 1);
  });
});
