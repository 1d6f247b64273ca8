// `slipway up --detach` on a fresh SLIPWAY_HOME becomes ready with the stack imported from the
// machine cache and Redis, the agent and the scheduler running; a container and a scheduled job
// run; `slipway down` removes everything (Redis too) and is idempotent. In the foreground (as
// `npm start` runs it), Ctrl-C does the same clean-up, and the next start brings the apps back.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createDiscovery } from '../../layer0/discovery/client.ts';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import { findLeaks } from '../helpers/leaks.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { freePort } from '../helpers/wait.ts';
import { httpGet } from '../helpers/http.ts';

const execFileP = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const dir = mkdtempSync(join(tmpdir(), 'slwt-up-'));
// Free ports rather than the documented 7000, 8080, 8443, 7002: other suites may hold them.
const env = {
  ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: testPrefix('u'), SLIPWAY_API_PORT: String(await freePort()),
  SLIPWAY_HTTP_PORT: String(await freePort()), SLIPWAY_HTTPS_PORT: String(await freePort()), SLIPWAY_ROUTER_ADMIN_PORT: String(await freePort()),
  SLIPWAY_BLOB_PORT: String(await freePort()),
};
/** An app through the router, as the README's quickstart does with curl. */
const viaRouter = (app: string) => httpGet(Number(env.SLIPWAY_HTTP_PORT), '/', { host: `${app}.localhost` });
const slipway = (args: string[], timeout = 120_000) => execFileP(process.execPath, [BIN, ...args], { env, timeout }).catch((err: Error) => {
  // The platform's own log says why it did not come up.
  let log = '';
  try {
    log = readFileSync(join(dir, 'home', 'logs', 'slipway.log'), 'utf8').split('\n').slice(-30).join('\n');
  } catch { /* none */ }
  throw new Error(`${err.message}\n${log}`);
});
const docker = (args: string[]) => execFileP('docker', ['-H', `unix://${join(dir, 'run', 'agent.sock')}`, ...args], { timeout: 60_000 });

after(async () => {
  await slipway(['down']).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('slipway up and down', () => {
  it('starts detached, runs a stack container, and comes down clean', { timeout: 240_000 }, async () => {
    const t0 = Date.now();
    const up = await slipway(['up', '--detach']);
    assert.match(up.stdout, /slipway is up/);
    assert.ok(Date.now() - t0 < 60_000, 'ready within 60 s with a cached stack');
    await assert.rejects(slipway(['up', '--detach']), /already running/);
    // The stack is imported in the background once the agent serves.
    let images = '';
    for (let i = 0; i < 100 && !images.includes('slipway/stack'); i++) {
      images = (await docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(images, /slipway\/stack:bookworm/);
    const run = await docker(['run', '-d', '--name', 'n1', 'slipway/stack:bookworm', 'node', '-e', 'setInterval(() => {}, 1000)']);
    assert.match(run.stdout, /^[0-9a-f]{64}$/m);
    const whoami = await docker(['exec', 'n1', 'node', '-e', 'console.log(process.version)']);
    assert.match(whoami.stdout, /^v\d+/);

    // Redis, discovery and the scheduler run inside `up`: a formation becomes a running job.
    // The controller answers /readyz and the admin token (0600) works on /v1.
    const api = `http://127.0.0.1:${env.SLIPWAY_API_PORT}`;
    assert.equal((await fetch(`${api}/readyz`)).status, 200);
    const tokenFile = join(dir, 'home', 'admin-token');
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    const me = await fetch(`${api}/v1/whoami`, { headers: { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` } });
    assert.equal(me.status, 200);
    assert.equal((await fetch(`${api}/v1/apps`)).status, 401);
    // An app released from the stack image runs; it must come back after down + up.
    const token = readFileSync(tokenFile, 'utf8').trim();
    const v1 = (method: string, path: string, body?: unknown) => fetch(`${api}/v1${path}`, {
      method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.equal((await v1('POST', '/apps', { name: 'comeback' })).status, 201);
    const web = `node -e "require('http').createServer((q, s) => s.end('up')).listen(process.env.PORT)"`;
    const released = await v1('POST', '/apps/comeback/releases?wait=true', { image: 'slipway/stack:bookworm', procfile: { web } });
    assert.equal(released.status, 201, await released.clone().text());
    assert.equal(((await released.json()) as { deployment: { state: string } }).deployment.state, 'succeeded');
    assert.deepEqual(await viaRouter('comeback').then((r) => [r.status, r.body]), [200, 'up'], 'served through the router');
    assert.equal((await httpGet(Number(env.SLIPWAY_ROUTER_ADMIN_PORT), '/healthz')).status, 200);
    // The log shipper runs inside `up`: that request is a router line, the rollout platform lines.
    let logLines: { source: string; message: string; status?: number }[] = [];
    for (let i = 0; i < 50 && !logLines.some((l) => l.source === 'router'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      logLines = (await (await v1('GET', '/apps/comeback/logs?tail=500')).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    }
    assert.ok(logLines.some((l) => l.source === 'router' && l.status === 200), JSON.stringify(logLines));
    assert.ok(logLines.some((l) => l.source === 'platform' && /deploy .* succeeded|release v1 created/.test(l.message)), JSON.stringify(logLines));
    const redisUrl = `unix://${join(dir, 'run', 'redis.sock')}`;
    const discovery = createDiscovery({ url: redisUrl });
    const sched = createSchedulerClient({ redisUrl, discovery });
    try {
      assert.equal((await discovery.instances('slipway-hosts')).length, 1);
      await sched.putFormation({ id: 'upjob', jobs: { w: { count: 1, image: 'slipway/stack:bookworm', cmd: ['sleep', '600'], memory: 64 * 1024 * 1024, stopGraceSec: 1 } } });
      let state = '';
      for (let i = 0; i < 100 && state !== 'running'; i++) {
        state = (await sched.listJobs({ formationId: 'upjob' }))[0]?.state ?? '';
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(state, 'running');
    } finally {
      sched.close();
      await discovery.close();
    }

    const t1 = Date.now();
    const down = await slipway(['down'], 70_000);
    assert.match(down.stdout, /slipway is down/);
    assert.ok(Date.now() - t1 < 60_000);
    assert.deepEqual(await findLeaks(env.SLIPWAY_PREFIX, { runcRoots: [join(dir, 'run', 'runc')] }), []);
    const redisLeft = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(join(dir, 'home', 'redis'));
      } catch {
        return false;
      }
    });
    assert.deepEqual(redisLeft, []);
    const again = await slipway(['down']);
    assert.match(again.stdout, /slipway is down/);

    // Up again with all state intact: the app comes back by itself.
    await slipway(['up', '--detach']);
    let procs: { state: string; registered: boolean }[] = [];
    for (let i = 0; i < 150 && !procs.some((p) => p.state === 'running' && p.registered); i++) {
      const r = await v1('GET', '/apps/comeback/processes').catch(() => null);
      if (r?.status === 200) procs = ((await r.json()) as { items: typeof procs }).items;
      await new Promise((r2) => setTimeout(r2, 200));
    }
    assert.ok(procs.some((p) => p.state === 'running' && p.registered), JSON.stringify(procs));
    let back = { status: 0, body: '' };
    for (let i = 0; i < 50 && back.status !== 200; i++) {
      back = await viaRouter('comeback').catch(() => back);
      if (back.status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual([back.status, back.body], [200, 'up'], 'back through the router after up again');
    await slipway(['down'], 70_000);
    assert.deepEqual(await findLeaks(env.SLIPWAY_PREFIX, { runcRoots: [join(dir, 'run', 'runc')] }), []);
  });

  it('in the foreground (npm start): Ctrl-C leaves nothing behind, and the next start brings the app back', { timeout: 240_000 }, async () => {
    const api = `http://127.0.0.1:${env.SLIPWAY_API_PORT}`;
    /** `slipway up` as `npm start` runs it; resolves with its exit code once it ended. */
    const foreground = async () => {
      const child = spawn(process.execPath, [BIN, 'up'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d));
      child.stderr!.on('data', (d: Buffer) => (out += d));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      for (let i = 0; i < 600; i++) {
        if ((await fetch(`${api}/readyz`).then((r) => r.status, () => 0)) === 200) return { child, exited, out: () => out };
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGKILL');
      throw new Error(`slipway up did not get ready:\n${out}`);
    };
    const stop = async (p: Awaited<ReturnType<typeof foreground>>) => {
      const t0 = Date.now();
      p.child.kill('SIGINT'); // what Ctrl-C sends
      const code = await p.exited;
      assert.equal(code, 0, p.out());
      assert.ok(Date.now() - t0 < 60_000, 'down within 60 s');
      assert.deepEqual(await findLeaks(env.SLIPWAY_PREFIX, { runcRoots: [join(dir, 'run', 'runc')] }), []);
    };
    const token = () => readFileSync(join(dir, 'home', 'admin-token'), 'utf8').trim();
    const v1 = (method: string, path: string, body?: unknown) => fetch(`${api}/v1${path}`, {
      method, headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const first = await foreground();
    assert.equal((await v1('POST', '/apps', { name: 'fground' })).status, 201);
    const web = `node -e "require('http').createServer((q, s) => s.end('fg')).listen(process.env.PORT)"`;
    const released = await v1('POST', '/apps/fground/releases?wait=true', { image: 'slipway/stack:bookworm', procfile: { web } });
    assert.equal(released.status, 201, await released.clone().text());
    assert.deepEqual(await viaRouter('fground').then((r) => [r.status, r.body]), [200, 'fg']);
    await stop(first);

    const second = await foreground();
    let back = { status: 0, body: '' };
    for (let i = 0; i < 300 && back.status !== 200; i++) {
      back = await viaRouter('fground').catch(() => back);
      if (back.status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual([back.status, back.body], [200, 'fg'], 'back through the router after Ctrl-C and a new start');
    await stop(second);
  });
});
