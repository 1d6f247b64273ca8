// The host agent driven by dockerode 5 (the client layer 1 uses) and by the agent's own typed
// client: import, docker.run (non-upgrade attach, Tty), create/start/wait, published port,
// logs, exec, stop/kill/remove, images, events, TCP with a bearer token; nothing leaks.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { connectAgent, type AgentClient } from '../../layer0/agent/index.ts';
import { startTestAgent, type TestAgent } from '../helpers/agent.ts';
import { httpGet, retry } from '../helpers/http.ts';

let a: TestAgent;
let docker: Docker;
let client: AgentClient;
const TOKEN = 'test-token-0123456789';


describe('slipway agent as a process', () => {
  it('serves within 5 s and stops on SIGTERM', async () => {
    const t0 = Date.now();
    const child = await startTestAgent({ suffix: 'p', child: true });
    try {
      assert.ok(Date.now() - t0 < 5000 + 1000, `took ${Date.now() - t0} ms`);
      assert.equal(await connectAgent({ socketPath: child.socketPath }).ping(), true);
    } finally {
      await child.cleanup();
    }
  });
});

describe('dockerode against the agent', () => {
  before(async () => {
    a = await startTestAgent({ suffix: 'd', tcp: { port: 0, token: TOKEN } });
    docker = new Docker({ socketPath: a.socketPath });
    client = connectAgent({ socketPath: a.socketPath });
  });
  after(async () => {
    await a.cleanup();
  });

  it('pings and imports', async () => {
    assert.equal((await docker.ping()).toString(), 'OK');
    const id = await client.importImage(createReadStream(a.busyboxTar), { repo: 'dkimg', tag: 'v1', changes: ['CMD ["sh"]', 'ENV A=1'] });
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const img = await docker.getImage('dkimg:v1').inspect();
    assert.deepEqual(img.Config.Cmd, ['sh']);
    assert.ok((await docker.listImages()).some((i) => i.RepoTags?.includes('dkimg:v1')));
    const filtered = await docker.listImages({ filters: { reference: ['dk*'] } });
    assert.equal(filtered.length, 1);
  });

  it('docker.run with Tty (non-upgrade attach)', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d));
    const ended = new Promise((resolve) => out.on('end', resolve));
    const [result, container] = (await docker.run('dkimg:v1', ['sh', '-c', 'echo $A; exit 4'], out)) as [{ StatusCode: number }, Docker.Container];
    assert.equal(result.StatusCode, 4);
    // dockerode resolves on /wait; the attach stream ends when the container's output does.
    await Promise.race([ended, new Promise((r) => setTimeout(r, 5000))]);
    assert.match(text, /^1\r?\n$/);
    await container.remove();
  });

  it('creates, starts, serves a port, logs, execs, stops and removes', async () => {
    const c = await docker.createContainer({
      name: 'dk1', Image: 'dkimg:v1', Cmd: ['httpd', '-f', '-p', '8080', '-h', '/'], Labels: { team: 'x' },
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, Memory: 64 << 20, NanoCpus: 5e8, PidsLimit: 50 },
    });
    await c.start();
    await assert.rejects(c.start(), (e: { statusCode?: number }) => e.statusCode === 304);
    const info = await c.inspect();
    assert.equal(info.State.Running, true);
    assert.equal(info.HostConfig.Memory, 64 << 20);
    const hostPort = Number(info.NetworkSettings.Ports['8080/tcp']![0]!.HostPort);
    const res = await retry(() => httpGet(hostPort, '/etc/passwd'));
    assert.equal(res.status, 200);
    const listed = await client.listContainers({ labels: ['team=x'] });
    assert.deepEqual(listed.map((x) => x.Id), [c.id]);
    const ex = await client.exec(c.id, ['sh', '-c', 'echo out; echo err >&2; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; exit 5']);
    assert.deepEqual(ex, { exitCode: 5, stdout: `out\n${64 << 20}\n`, stderr: 'err\n' });
    await client.stopContainer(c.id, 1);
    await client.stopContainer(c.id, 1); // 304 is fine for the client
    assert.equal(await client.waitContainer(c.id), (await c.inspect()).State.ExitCode);
    await client.removeContainer(c.id);
    await client.removeContainer(c.id); // gone is fine
    await assert.rejects(c.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  it('streams logs with follow and demuxes them', async () => {
    const id = await client.createContainer({ Image: 'dkimg:v1', Cmd: ['sh', '-c', 'for i in 1 2 3; do echo o$i; echo e$i >&2; done'] });
    const ac = new AbortController();
    await client.startContainer(id);
    assert.equal(await client.waitContainer(id), 0);
    const got: string[] = [];
    for await (const c of client.logs(id, { follow: true, signal: ac.signal })) got.push(`${c.stream}:${c.data.toString().trim()}`);
    assert.deepEqual(got.filter((g) => g.startsWith('stdout')), ['stdout:o1', 'stdout:o2', 'stdout:o3']);
    assert.deepEqual(got.filter((g) => g.startsWith('stderr')), ['stderr:e1', 'stderr:e2', 'stderr:e3']);
    const tail: string[] = [];
    for await (const c of client.logs(id, { tail: 1 })) tail.push(c.data.toString());
    assert.equal(tail.length, 1);
    await assert.rejects(client.killContainer(id), (e: { statusCode?: number }) => e.statusCode === 409);
    await client.removeContainer(id);
  });

  it('emits events', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const id = await client.createContainer({ Image: 'dkimg:v1', Cmd: ['true'], HostConfig: { AutoRemove: true } });
    const removed = client.waitContainer(id, 'removed');
    await client.startContainer(id);
    assert.equal(await removed, 0);
    const ac = new AbortController();
    const seen: string[] = [];
    setTimeout(() => ac.abort(), 1000);
    for await (const e of client.events({ since, filters: { container: [id] }, signal: ac.signal })) {
      seen.push(e.Action);
      if (e.Action === 'destroy') break;
    }
    assert.deepEqual(seen.filter((s) => ['create', 'start', 'die', 'destroy'].includes(s)), ['create', 'start', 'die', 'destroy']);
  });

  it('refuses bad input', async () => {
    await assert.rejects(docker.createContainer({ Image: 'nosuch' }), (e: { statusCode?: number; json?: { message?: string } }) => e.statusCode === 404 && e.json?.message === 'No such image: nosuch:latest');
    await assert.rejects(docker.createContainer({ Image: 'dkimg:v1', Cmd: ['true'], HostConfig: { Memory: 1024 } }), (e: { statusCode?: number }) => e.statusCode === 400);
    await assert.rejects(docker.createContainer({ Image: 'dkimg:v1', HostConfig: { RestartPolicy: { Name: 'sometimes' } } }), (e: { statusCode?: number }) => e.statusCode === 400);
    assert.equal((await docker.listContainers({ all: true })).length, 0);
  });

  it('serves TCP only with the bearer token', async () => {
    const port = a.tcpPort!;
    const denied = await httpGet(port, '/_ping');
    assert.equal(denied.status, 401);
    assert.equal(denied.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(denied.body), { message: 'unauthorized' });
    assert.equal((await httpGet(port, '/_ping', { Authorization: 'Bearer wrong' })).status, 401);
    const remote = connectAgent({ host: '127.0.0.1', port, token: TOKEN });
    assert.equal(await remote.ping(), true);
    assert.ok((await remote.info()).NCPU > 0);
  });

  it('reports stats in Docker\'s shape', async () => {
    const id = await client.createContainer({ Image: 'dkimg:v1', Cmd: ['sleep', '30'], HostConfig: { Memory: 32 << 20 } });
    await client.startContainer(id);
    const s = (await docker.getContainer(id).stats({ stream: false, 'one-shot': true } as { stream: false })) as unknown as Record<string, any>;
    assert.equal(s.memory_stats.limit, 32 << 20);
    assert.ok(s.cpu_stats.cpu_usage.total_usage >= 0);
    assert.ok(s.pids_stats.current >= 1);
    await client.removeContainer(id, true);
  });

  it('puts Docker headers on every response', async () => {
    const res = await new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
      const req = request({ socketPath: a.socketPath, path: '/v1.44/nothing', method: 'GET' }, (r) => {
        r.resume();
        r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.status, 404);
    assert.equal(res.headers['api-version'], '1.50');
    assert.equal(res.headers['ostype'], 'linux');
    await docker.getImage('dkimg:v1').remove();
  });
});
