// `slipway cluster up` on one machine: three netns hosts with their own agents, scheduler
// standbys and routers over one Redis; published ports reachable across hosts; every host's
// router serves an app whose process runs on another host; a host killed and brought back adopts
// its containers; `host join` from a fresh netns host (with its router); `cluster down` leaves
// nothing.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { connectRedis, createDiscovery } from '../../layer0/discovery/client.ts';
import type { Discovery } from '../../layer0/discovery/types.ts';
import { ROUTER_KEYS } from '../../layer1/router/types.ts';
import { HOSTS_SERVICE, SCHEDULER_ELECTION } from '../../layer0/discovery/types.ts';
import { cleanupByPrefix } from '../../layer0/network/index.ts';
import { createNetnsHost, hostCommand, removeNetnsHost } from '../../layer0/network/netns-host.ts';
import { removeCgroupParent } from '../../layer0/runtime/index.ts';
import { clusterUp, type TestCluster } from '../helpers/cluster.ts';
import { busyboxRootfsTar } from '../helpers/fixtures.ts';
import { DOCKER } from '../helpers/agent.ts';
import { findLeaks } from '../helpers/leaks.ts';
import { startTestRedis } from '../helpers/redis.ts';

const execFileP = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/slipway.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let c: TestCluster;
let fixtures: string;
let downed = false;

function ping(url: string, token: string): Promise<number> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: Number(u.port), path: '/_ping', timeout: 2000, headers: { authorization: `Bearer ${token}` } }, (r) => {
      r.resume();
      resolve(r.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

const docker = async (i: number, args: string[]) => {
  const sock = c.hosts.find((h) => h.index === i)!.socketPath;
  return (await execFileP(DOCKER, ['-H', `unix://${sock}`, ...args], { timeout: 20_000 })).stdout.trim();
};

/** `curl` from inside a host's netns. */
async function curlFrom(netns: string, url: string, headers: string[] = []): Promise<string> {
  const cmd = hostCommand({ netns }, ['curl', '-sS', '-m', '5', ...headers.flatMap((h) => ['-H', h]), url]);
  return (await execFileP(cmd.file, cmd.args, { timeout: 10_000 })).stdout;
}

/** Polls `fn` (every 100 ms, 5 s at most) until its answer contains `want`; returns the last answer. */
async function eventually(fn: () => Promise<string>, want: string): Promise<string> {
  let got = '';
  for (let i = 0; i < 50 && !got.includes(want); i++) got = await fn().catch(() => sleep(100).then(() => ''));
  return got;
}

let demoDiscovery: Discovery | null = null;

async function hostsInDiscovery(): Promise<Map<string, string>> {
  const d = createDiscovery({ url: c.redisSocketUrl, sweepMs: 0 });
  try {
    return new Map((await d.instances(HOSTS_SERVICE)).map((i) => [i.id, i.meta.address ?? '']));
  } finally {
    await d.close();
  }
}

describe('cluster on one machine', { timeout: 120_000 }, () => {
  before(async () => {
    fixtures = mkdtempSync(join(tmpdir(), 'slwt-clfx-'));
    c = await clusterUp({ hosts: 3, memory: '2g', cpus: '1' });
  });

  after(async () => {
    rmSync(fixtures, { recursive: true, force: true });
    await demoDiscovery?.close();
    if (c && !downed) await c.down(); // a failed test still cleans up
  });

  it('3 hosts: each agent answers /_ping over TCP, is registered with its address, and schedulers elect a leader', async () => {
    assert.deepEqual(c.hosts.map((h) => h.address), ['11', '12', '13'].map((n) => c.state().gateway.replace(/\.1$/, `.${n}`)));
    for (const h of c.hosts) {
      assert.equal(await ping(h.agentUrl, c.token), 200, h.agentUrl);
      assert.equal(await ping(h.agentUrl, 'wrong'), 401, 'the TCP API needs the token');
    }
    const registered = [...(await hostsInDiscovery()).values()].sort();
    assert.deepEqual(registered, c.hosts.map((h) => h.address).sort());
    for (const h of c.hosts) {
      assert.equal(h.routerUrl, `http://${h.address}:8080`);
      assert.match(await curlFrom(h.netns, `${h.routerUrl}/`, ['Host: nothing.localhost']), /No such app/, `host ${h.index}'s router answers`);
    }
    const d = createDiscovery({ url: c.redisSocketUrl, sweepMs: 0 });
    let leader = null;
    for (let i = 0; i < 50 && !leader; i++) {
      leader = await d.leader(SCHEDULER_ELECTION);
      if (!leader) await sleep(100);
    }
    await d.close();
    assert.ok(leader, 'a scheduler leads');
  });

  it('a container on host 2 is reachable from host 1 through its published port on host 2\'s address', async () => {
    await docker(2, ['import', await busyboxRootfsTar(fixtures), 'bb:1']);
    await docker(2, ['run', '-d', '--name', 'web', '-p', '18080:8080', 'bb:1', 'sh', '-c', 'mkdir -p /w && echo hello-from-h2 > /w/index.html && exec httpd -f -p 8080 -h /w']);
    const [h1, h2] = c.hosts;
    let body = '';
    for (let i = 0; i < 50 && !body.includes('hello'); i++) body = await curlFrom(h1!.netns, `http://${h2!.address}:18080/`).catch(() => (sleep(100).then(() => '')));
    assert.equal(body.trim(), 'hello-from-h2');
    // Host 1 has no such port: the traffic really went to host 2.
    await assert.rejects(curlFrom(h1!.netns, `http://${h1!.address}:18080/`));
  });

  it('every host\'s router serves an app whose process runs on host 2, as soon as the route and the backend appear', async () => {
    const [h1, h2, h3] = c.hosts;
    // What the controller publishes (layer1/controller/router-publisher.ts) and a deploy registers.
    const redis = connectRedis(c.redisSocketUrl);
    try {
      const route = { id: 'app-demo', name: 'demo', service: 'demo-web', domains: [], paths: [], maintenance: false, httpsRedirect: false };
      await redis.hset(ROUTER_KEYS.apps('ctl:'), route.id, JSON.stringify(route));
      const version = await redis.incr(ROUTER_KEYS.version('ctl:'));
      await redis.publish(ROUTER_KEYS.changed('ctl:'), String(version));
    } finally {
      redis.disconnect();
    }
    for (const h of [h1!, h3!]) assert.match(await eventually(() => curlFrom(h.netns, `${h.routerUrl}/`, ['Host: demo.localhost']), 'No backend'), /No backend/);
    demoDiscovery = createDiscovery({ url: c.redisSocketUrl, sweepMs: 0 });
    await demoDiscovery.register('demo-web', { id: 'demo-1', addr: `${h2!.address}:18080` }, { ttlMs: 120_000, heartbeatMs: 5000 });
    for (const h of [h1!, h2!, h3!]) {
      assert.equal((await eventually(() => curlFrom(h.netns, `${h.routerUrl}/`, ['Host: demo.localhost']), 'hello')).trim(), 'hello-from-h2', `through host ${h.index}'s router`);
    }
  });

  it('killHost(2) stops its agent and containers; startHost(2) brings the agent back with them adopted', async () => {
    const before = c.hosts[1]!.pid;
    await c.killHost(2);
    assert.equal(await ping(c.hosts[1]!.agentUrl, c.token), 0);
    await assert.rejects(curlFrom(c.hosts[0]!.netns, `http://${c.hosts[1]!.address}:18080/`));
    await c.startHost(2);
    assert.notEqual(c.hosts[1]!.pid, before);
    assert.equal(await ping(c.hosts[1]!.agentUrl, c.token), 200);
    assert.match(await docker(2, ['ps', '-a', '--format', '{{.Names}} {{.State}}']), /^web exited$/);
    await docker(2, ['start', 'web']);
    let body = '';
    for (let i = 0; i < 50 && !body.includes('hello'); i++) body = await curlFrom(c.hosts[0]!.netns, `http://${c.hosts[1]!.address}:18080/`).catch(() => (sleep(100).then(() => '')));
    assert.equal(body.trim(), 'hello-from-h2');
  });

  it('killScheduler(leader) hands leadership to a standby; startScheduler brings it back', async () => {
    const d = createDiscovery({ url: c.redisSocketUrl, sweepMs: 0 });
    try {
      const first = await d.leader(SCHEDULER_ELECTION);
      const h = c.state().hosts.find((x) => first && x.schedulerPid !== null && first.id.includes(String(x.schedulerPid)));
      assert.ok(first && h, `the leader ${first?.id} is one of the cluster's schedulers`);
      await c.killScheduler(h.index);
      let next: typeof first | null = first;
      for (let i = 0; i < 100 && (next === null || next.id === first.id); i++) {
        await sleep(100);
        next = await d.leader(SCHEDULER_ELECTION);
      }
      assert.ok(next && next.id !== first.id && next.token > first.token, 'a standby leads with a newer token');
      await c.startScheduler(h.index);
      assert.notEqual(c.state().hosts[h.index - 1]!.schedulerPid, h.schedulerPid);
    } finally {
      await d.close();
    }
  });

  it('host join from a fresh netns host on the cluster bridge registers it', async () => {
    const s = c.state();
    const prefix = `${s.prefix}h4`;
    c.extraPrefixes.push(prefix);
    const dir = mkdtempSync(join(tmpdir(), 'slwt-join-'));
    const host = await createNetnsHost({ prefix: s.prefix, index: 4, bridge: s.bridge, subnet: s.subnet, mountDir: join(dir, 'ns') });
    let child: ChildProcess | null = null;
    try {
      const cmd = hostCommand(host, [
        process.execPath, BIN, 'host', 'join', '--redis', c.redisUrl, '--token-file', join(s.dir, 'token'),
        '--advertise', host.address, '--subnet', '172.31.14.0/24',
      ]);
      const env = { ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: prefix, SLIPWAY_CACHE: s.cache };
      child = spawn(cmd.file, cmd.args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
      let addrs: string[] = [];
      for (let i = 0; i < 100 && !addrs.includes(host.address); i++) {
        await sleep(100);
        addrs = [...(await hostsInDiscovery()).values()];
      }
      assert.ok(addrs.includes(host.address), `joined host ${host.address} registered (have ${addrs.join(', ')})`);
      assert.equal(await ping(`http://${host.address}:2375`, c.token), 200);
      // its router takes the cluster's app traffic too
      const viaJoined = await eventually(() => curlFrom(host.netns, `http://${host.address}:8080/`, ['Host: demo.localhost']), 'hello');
      assert.equal(viaJoined.trim(), 'hello-from-h2');
    } finally {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000).unref())]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      await cleanupByPrefix(prefix);
      removeCgroupParent(prefix);
      await removeNetnsHost({ prefix: s.prefix, index: 4, mountDir: join(dir, 'ns') });
      const leaks = await findLeaks(prefix, { runcRoots: [join(dir, 'run', 'runc')] });
      const procs = (await execFileP('ps', ['-eo', 'pid,args'])).stdout.split('\n').filter((l) => l.includes(dir));
      rmSync(dir, { recursive: true, force: true });
      assert.deepEqual([...leaks, ...procs], []);
    }
  });

  it('cluster down removes every process, netns, link, rule, mount and cgroup', async () => {
    const pids = [...c.hosts.map((h) => h.pid), c.state().redis.pid, ...c.state().hosts.flatMap((h) => [h.schedulerPid, h.routerPid])];
    assert.equal(pids.filter((p) => p).length, 3 * 3 + 1);
    downed = true;
    await c.down();
    for (const pid of pids) assert.throws(() => process.kill(pid!, 0), `pid ${pid} is gone`);
  });
});

describe('cluster with SLIPWAY_REDIS_URL', () => {
  it('uses the given Redis (a unix socket the netns hosts share) instead of starting one', { timeout: 90_000 }, async () => {
    const redis = await startTestRedis();
    let cl: TestCluster | null = null;
    try {
      cl = await clusterUp({ hosts: 1, env: { ...process.env, SLIPWAY_REDIS_URL: redis.url } });
      assert.equal(cl.state().redis.pid, null);
      assert.equal(cl.redisUrl, redis.url);
      const d = createDiscovery({ url: redis.url });
      try {
        const hosts = await d.instances(HOSTS_SERVICE);
        assert.deepEqual(hosts.map((h) => h.meta.address), [cl.hosts[0]!.address]);
      } finally {
        await d.close();
      }
    } finally {
      await cl?.down();
      await redis.cleanup();
    }
  });
});
