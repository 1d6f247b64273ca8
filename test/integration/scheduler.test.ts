// The scheduler against real agents (three in this process, each its own prefix, dirs, TCP
// port and capacity), a real Redis and real containers: exact counts when scaling, restarts
// with back-off visible in listJobs, capacity-aware placement and pending reasons, health-gated
// registration, bad input, leader failover with fencing, and a Redis crash.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectAgent } from '../../layer0/agent/client.ts';
import { FENCING_HEADER } from '../../layer0/agent/types.ts';
import { createLogger, silentLogger } from '../../layer0/common/logger.ts';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import { startScheduler, type RunningScheduler } from '../../layer0/scheduler/scheduler.ts';
import type { FormationInput, Job, SchedulerClient } from '../../layer0/scheduler/types.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { until, sleep } from '../helpers/wait.ts';
import { startTestHosts, type TestHost, type TestHosts } from '../helpers/hosts.ts';

const TOKEN = 'sched-test-token';
const TTL = 2000;
const GiB = 1024 ** 3;
let redis: TestRedis;
let imageUrl = '';
let cluster: TestHosts;
let hosts: TestHost[] = [];
const schedulers: RunningScheduler[] = [];
let client: SchedulerClient & { close(): void };
const discovery = () => cluster.discovery();;
/** Containers of a formation on every host, straight from the agents. */
async function containers(formationId: string): Promise<{ host: number; id: string; state: string }[]> {
  const out: { host: number; id: string; state: string }[] = [];
  for (const [i, h] of hosts.entries()) {
    const list = await connectAgent({ socketPath: join(h.paths.run, 'agent.sock') }).listContainers({ all: true, labels: [`slipway.formation=${formationId}`] });
    for (const c of list) out.push({ host: i, id: c.Id, state: c.State });
  }
  return out;
}
const jobs = (f: string) => client.listJobs({ formationId: f });
const running = (js: Job[]) => js.filter((j) => j.state === 'running');
function web(id: string, count: number, extra: Partial<FormationInput['jobs'][string]> = {}): FormationInput {
  return {
    id,
    jobs: { web: { count, image: 'bb:1', imageUrl, cmd: ['httpd', '-f', '-p', '8080', '-h', '/'], ports: [8080], service: `${id}-web`, memory: 64 * 1024 * 1024, drainSec: 0, stopGraceSec: 1, health: { type: 'tcp', timeoutMs: 10_000, intervalMs: 100 }, ...extra } },
  };
}

before(async () => {
  cluster = await startTestHosts({ keyPrefix: 'st:', capacities: [3 * GiB, 3 * GiB, GiB / 2], tag: 's', token: TOKEN, ttlMs: TTL });
  ({ hosts, redis, imageUrl } = cluster);
  for (let i = 0; i < 2; i++) schedulers.push(startScheduler({ redisUrl: redis.url, discovery: discovery(), agentToken: TOKEN, keyPrefix: 'st:', ttlMs: TTL, resyncMs: 1000, log: process.env.DEBUG_SCHED ? createLogger('sched', 'debug') : silentLogger }));
  client = createSchedulerClient({ redisUrl: redis.url, keyPrefix: 'st:', discovery: discovery(), agentToken: TOKEN });
});

after(async () => {
  for (const f of await client.listFormations().catch(() => [])) await client.deleteFormation(f.id).catch(() => undefined);
  await until('formations gone', async () => (await Promise.all(['f1', 'dr', 'cap', 'crash', 'health', 'ha', 'rk'].map(containers))).every((l) => l.length === 0), 30_000).catch(() => undefined);
  for (const s of schedulers) await s.close();
  client.close();
  assert.deepEqual(await cluster.teardown(), []);
});

describe('scheduler', { timeout: 120_000 }, () => {
  it('scales to 6 on 3 hosts as 2 per host, then to 2 and 0 with exact counts; healthy jobs are registered', async () => {
    await client.putFormation(web('f1', 6, { memory: 32 * 1024 * 1024 }));
    const js = await until('6 running, registered jobs', async () => {
      const j = await jobs('f1');
      return running(j).length === 6 && j.every((x) => x.registered) && j.length === 6 && j;
    }, 40_000);
    const perHost = [0, 0, 0];
    for (const c of await containers('f1')) perHost[c.host]++;
    assert.deepEqual(perHost, [2, 2, 2]);
    assert.equal((await hosts[0]!.discovery.instances('f1-web')).length, 6);
    assert.ok(js.every((j) => /^127\.0\.0\.1:\d+$/.test(j.ports['8080']!)));
    await client.putFormation(web('f1', 2, { memory: 32 * 1024 * 1024 }));
    await until('2 left', async () => (await containers('f1')).length === 2 && (await jobs('f1')).length === 2);
    await client.putFormation(web('f1', 0, { memory: 32 * 1024 * 1024 }));
    await until('0 left', async () => (await containers('f1')).length === 0 && (await jobs('f1')).length === 0);
    assert.equal((await hosts[0]!.discovery.instances('f1-web')).length, 0);
  });

  it('stopping a job deregisters it first, drains, then stops it', async () => {
    await client.putFormation(web('dr', 1, { memory: 32 * 1024 * 1024, drainSec: 2 }));
    await until('registered', async () => (await jobs('dr'))[0]?.registered);
    await client.putFormation(web('dr', 0, { memory: 32 * 1024 * 1024, drainSec: 2 }));
    await until('deregistered', async () => (await hosts[0]!.discovery.instances('dr-web')).length === 0, 10_000);
    const t0 = Date.now();
    // Deregistered but still serving for the drain period.
    assert.deepEqual((await containers('dr')).map((c) => c.state), ['running']);
    await until('stopped', async () => (await containers('dr')).length === 0, 15_000);
    assert.ok(Date.now() - t0 >= 1000, `stopped ${Date.now() - t0} ms after deregistration`);
  });

  it('never places a 1 GiB job on a host without room; a job that fits nowhere is pending with a reason', async () => {
    // 3 GiB + 3 GiB + 0.5 GiB of hosts: six 1 GiB jobs fit, the seventh fits nowhere.
    await client.putFormation({ id: 'cap', jobs: { big: { count: 7, image: 'bb:1', imageUrl, cmd: ['sleep', '1000'], memory: GiB, stopGraceSec: 1 } } });
    const js = await until('6 running + 1 pending', async () => {
      const j = await jobs('cap');
      return running(j).length === 6 && j.filter((x) => x.state === 'pending').length === 1 && j;
    }, 40_000);
    assert.ok(js.filter((j) => j.state === 'pending').every((j) => j.reason === 'insufficient_memory'), JSON.stringify(js.map((j) => j.reason)));
    assert.ok((await containers('cap')).every((c) => c.host !== 2), 'the 512 MiB host got a 1 GiB job');
    await client.deleteFormation('cap');
    await until('cap gone', async () => (await containers('cap')).length === 0 && (await jobs('cap')).length === 0);
  });

  it('restarts a crashing job with back-off; restart count and exit code show in listJobs', async () => {
    await client.putFormation({ id: 'crash', jobs: { w: { count: 1, image: 'bb:1', imageUrl, cmd: ['sh', '-c', 'sleep 0.2; exit 3'], memory: 32 * 1024 * 1024 } } });
    const j = await until('restarted twice', async () => {
      const [x] = await jobs('crash');
      return x && x.restartCount >= 2 && x;
    }, 30_000);
    assert.equal((await containers('crash')).length, 1); // restarted in place, not replaced
    const seen = await until('an exit code', async () => {
      const [x] = await jobs('crash');
      return x && x.exitCode === 3 && x;
    }, 15_000);
    assert.equal(seen.id, j.id);
    await client.deleteFormation('crash');
    await until('crash gone', async () => (await containers('crash')).length === 0);
  });

  it('never registers a job whose port never opens', async () => {
    await client.putFormation({ id: 'health', jobs: { w: { count: 1, image: 'bb:1', imageUrl, cmd: ['sleep', '1000'], ports: [8080], service: 'health-w', memory: 32 * 1024 * 1024, stopGraceSec: 1, health: { type: 'tcp', timeoutMs: 2000, intervalMs: 100 } } } });
    await until('running', async () => running(await jobs('health')).length === 1);
    await sleep(3000);
    assert.equal((await hosts[0]!.discovery.instances('health-w')).length, 0);
    assert.equal((await jobs('health'))[0]!.registered, false);
    await client.deleteFormation('health');
    await until('health gone', async () => (await containers('health')).length === 0).catch(async (e) => { console.log('DEBUG', JSON.stringify(await containers('health')), JSON.stringify(await jobs('health'))); throw e; });
  });

  it('refuses bad input and creates nothing', async () => {
    const before = (await client.listFormations()).length;
    await assert.rejects(client.putFormation({ id: 'bad', jobs: { w: { count: -1, image: 'bb:1', imageUrl, cmd: ['true'] } } }), { code: 'invalid_params' });
    await assert.rejects(client.putFormation({ id: 'bad', jobs: { w: { count: 1, image: 'nosuch:1', cmd: ['true'] } } }), /unknown image/);
    await assert.rejects(client.putFormation({ id: 'bad', jobs: { w: { count: 1, image: 'bb:1', imageUrl, cmd: ['true'], memory: 10 * 1024 ** 4 } } }), { code: 'invalid_params' });
    await assert.rejects(client.putFormation({ id: 'Bad Id!', jobs: {} }), { code: 'invalid_params' });
    assert.equal((await client.listFormations()).length, before);
    await assert.rejects(client.deleteFormation('bad'), { code: 'not_found' });
  });

  it('a standby takes over within the TTL without starting any job twice; a stale fencing token is refused', async () => {
    await client.putFormation(web('ha', 3, { memory: 32 * 1024 * 1024 }));
    await until('3 running', async () => running(await jobs('ha')).length === 3, 40_000);
    const leader = await until('a leader', async () => schedulers.find((s) => s.isLeader));
    const oldToken = leader.token;
    const t0 = Date.now();
    await leader.close(); // resigns; a crash would only add the TTL
    schedulers.splice(schedulers.indexOf(leader), 1);
    schedulers.push(startScheduler({ redisUrl: redis.url, discovery: discovery(), agentToken: TOKEN, keyPrefix: 'st:', ttlMs: TTL, resyncMs: 1000, log: silentLogger }));
    const next = await until('a new leader', async () => schedulers.find((s) => s.isLeader && s.token > oldToken), TTL + 3000);
    assert.ok(Date.now() - t0 < TTL + 3000);
    // The new leader acts (scale up); nothing is started twice.
    await client.putFormation(web('ha', 4, { memory: 32 * 1024 * 1024 }));
    await until('4 running', async () => running(await jobs('ha')).length === 4, 40_000);
    for (let i = 0; i < 10; i++) {
      assert.equal((await containers('ha')).length, 4); // never a fifth: nothing started twice
      await sleep(200);
    }
    // The new leader presented its token to every host, so the deposed one is refused everywhere.
    for (const h of hosts) {
      const res = await fetch(`http://127.0.0.1:${h.port}/containers/create`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', [FENCING_HEADER]: String(oldToken) },
        body: JSON.stringify({ Image: 'bb:1', Cmd: ['true'] }),
      });
      const text = await res.text();
      assert.equal(res.status, 409, text);
      assert.match(text, /stale fencing token/);
    }
    assert.ok(next.token > oldToken);
    await client.deleteFormation('ha');
    await until('ha gone', async () => (await containers('ha')).length === 0);
  });

  it('survives a SIGKILL of Redis: formations and jobs stay, every component reconnects', async () => {
    await client.putFormation({ id: 'rk', jobs: { w: { count: 2, image: 'bb:1', imageUrl, cmd: ['sleep', '1000'], memory: 32 * 1024 * 1024, stopGraceSec: 1 } } });
    await until('2 running', async () => running(await jobs('rk')).length === 2, 40_000);
    await redis.kill();
    await sleep(500);
    await redis.restart();
    assert.equal((await client.getFormation('rk'))?.jobs.w?.count, 2);
    // Hosts re-register, a leader leads, and a change still takes effect.
    await client.putFormation({ id: 'rk', jobs: { w: { count: 3, image: 'bb:1', imageUrl, cmd: ['sleep', '1000'], memory: 32 * 1024 * 1024, stopGraceSec: 1 } } });
    await until('3 running after the crash', async () => running(await jobs('rk')).length === 3 && (await containers('rk')).length === 3, 40_000);
    await client.deleteFormation('rk');
    await until('rk gone', async () => (await containers('rk')).length === 0);
  });
});
