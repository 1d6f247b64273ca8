// Metrics end to end: the agent samples its containers' cgroups (v1) every few seconds and
// serves them (`/slipway/metrics`, Docker's `stats`, Prometheus `/metrics`); the shipper stores
// them per app; `GET /v1/apps/:app/metrics` shows a container burning CPU and holding memory,
// its limit, restarts counted, and the router's counters (requests, classes, percentiles).
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { connectAgent, type AgentClient } from '../../layer0/agent/index.ts';
import { startShipper, type Shipper } from '../../layer1/logs/shipper.ts';
import { startTestAgent, type TestAgent } from '../helpers/agent.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';

let redis: TestRedis;
let ctl: TestController;
let host: TestAgent;
let agent: AgentClient;
let shipper: Shipper;
let appId = '';
const MiB = 1024 * 1024;

function agentGet(path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: host.socketPath, path }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function run(script: string, o: { type: string; memory?: number; restart?: boolean }): Promise<string> {
  const id = await agent.createContainer({
    Image: 'bb:1', Cmd: ['sh', '-c', script],
    Labels: { 'slipway.app': 'metered', 'slipway.app-id': appId, 'slipway.type': o.type, 'slipway.index': '1', 'slipway.release': 'v1' },
    HostConfig: { ...(o.memory ? { Memory: o.memory } : {}), ...(o.restart ? { RestartPolicy: { Name: 'always' } } : {}) },
  } as never);
  await agent.startContainer(id);
  return id;
}

describe('metrics', { timeout: 180_000 }, () => {
  before(async () => {
    redis = await startTestRedis();
    ctl = await startTestController({ redis });
    host = await startTestAgent({ suffix: 'mt' });
    agent = connectAgent({ socketPath: host.socketPath });
    await agent.importImage(createReadStream(host.busyboxTar), { repo: 'bb', tag: '1' });
    shipper = await startShipper({ agent, redisUrl: redis.url, keyPrefix: ctl.controller.store.keys.prefix, metricsIntervalMs: 1000, routerMetricsMs: 500, host: 'test-host' });
    const r = await ctl.request('POST', '/v1/apps', { token: ctl.adminToken, body: { name: 'metered' } });
    assert.equal(r.status, 201);
    appId = r.body.id;
  });
  after(async () => {
    await shipper?.close();
    await host?.cleanup();
    await ctl?.close();
    await redis?.cleanup();
  });

  it('shows a container burning CPU and holding memory, its limit, and restarts', async () => {
    const burner = await run('x=$(head -c 40000000 /dev/zero | tr "\\0" a); while :; do :; done', { type: 'web', memory: 128 * MiB });
    const crasher = await run('echo up; sleep 0.3; exit 1', { type: 'worker', restart: true });
    const m = await until('numbers for both processes', async () => {
      const r = await ctl.request('GET', '/v1/apps/metered/metrics?since=5m', { token: ctl.adminToken });
      assert.equal(r.status, 200, r.text);
      const web = r.body.processes.find((p: { process: string }) => p.process === 'web.1');
      const worker = r.body.processes.find((p: { process: string }) => p.process === 'worker.1');
      return web && worker && web.cpuPercent > 30 && web.memoryBytes > 40e6 && web.history.length >= 2 && worker.restarts >= 2 ? r.body : null;
    }, 60_000, 500);
    const web = m.processes.find((p: { process: string }) => p.process === 'web.1');
    assert.equal(web.memoryLimit, 128 * MiB);
    assert.equal(web.host, 'test-host');
    assert.equal(web.type, 'web');
    assert.equal(web.release, 'v1');
    assert.equal(web.id, burner);
    for (const [t, cpu, mem] of web.history) assert.ok(t > 0 && cpu >= 0 && mem > 0);

    // The agent's own views: the bulk endpoint, Docker's stats (real cgroup numbers), Prometheus text.
    const bulk = JSON.parse((await agentGet('/slipway/metrics')).text) as { id: string; cpuPercent: number; memoryUsage: number; restartCount: number }[];
    assert.ok(bulk.find((c) => c.id === burner)!.memoryUsage > 40e6);
    assert.ok(bulk.find((c) => c.id === crasher)!.restartCount >= 2);
    const stats = (await new Docker({ socketPath: host.socketPath }).getContainer(burner).stats({ stream: false })) as unknown as {
      cpu_stats: { cpu_usage: { total_usage: number } }; precpu_stats: { cpu_usage: { total_usage: number } }; memory_stats: { usage: number; limit: number };
    };
    assert.ok(stats.cpu_stats.cpu_usage.total_usage > stats.precpu_stats.cpu_usage.total_usage, 'CPU time grows between the two samples');
    assert.ok(stats.memory_stats.usage > 40e6);
    assert.equal(stats.memory_stats.limit, 128 * MiB);
    const prom = await agentGet('/metrics');
    assert.equal(prom.status, 200);
    assert.match(prom.text, new RegExp(`slipway_container_memory_limit_bytes\\{id="${burner.slice(0, 12)}",name="[^"]+"\\} ${128 * MiB}`));
    assert.match(prom.text, /slipway_container_restarts_total\{[^}]+\} [2-9]/);
    for (const id of [burner, crasher]) await agent.removeContainer(id, true);
  });

  it('sums the router\'s counters into requests, status classes and latency percentiles', async () => {
    const at = new Date().toISOString();
    const rec = (status: number, durationMs: number) => ({ time: at, app: 'metered', method: 'GET', host: 'metered.localhost', path: '/', status, bytesIn: 0, bytesOut: 10, durationMs, backend: 'b', requestId: 'r' });
    for (let i = 0; i < 90; i++) shipper.access(rec(200, 3));
    for (let i = 0; i < 9; i++) shipper.access(rec(503, 40));
    shipper.access(rec(404, 900));
    const m = await until('router counters', async () => {
      const r = await ctl.request('GET', '/v1/apps/metered/metrics', { token: ctl.adminToken });
      return r.body.router.requests === 100 ? r.body : null;
    }, 10_000, 200);
    assert.deepEqual(m.router.classes, { '2xx': 90, '5xx': 9, '4xx': 1 });
    assert.ok(m.router.latencyMs.p50 <= 5, JSON.stringify(m.router.latencyMs));
    assert.ok(m.router.latencyMs.p95 > 25 && m.router.latencyMs.p95 <= 50, JSON.stringify(m.router.latencyMs));
    assert.ok(m.router.latencyMs.p99 > 25, JSON.stringify(m.router.latencyMs));
    assert.ok(m.router.history.length >= 1);
    // The controller's Prometheus text.
    const prom = await ctl.request('GET', '/metrics');
    assert.equal(prom.status, 200);
    assert.match(prom.text, /slipway_controller_requests_total\{method="GET",class="2xx"\} \d+/);
    assert.equal((await ctl.request('GET', '/v1/apps/metered/metrics?since=bogus', { token: ctl.adminToken })).status, 422);
  });
});
