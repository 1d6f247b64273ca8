// `slipway router`: a router on its own, as every joined host runs one. The real command as a
// process against a real Redis and controller: it serves an app the controller knows, with the
// backend from discovery; its access lines reach the app's log; a pid file while it serves; bad
// flags get a clear message; SIGTERM stops it cleanly.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDiscovery } from '../../layer0/discovery/client.ts';
import type { Discovery } from '../../layer0/discovery/types.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { httpGet } from '../helpers/http.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';
import { freePort, until } from '../helpers/wait.ts';

const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const tag = process.env.SLIPWAY_TEST_PREFIX ?? 'slwt';
const dir = mkdtempSync(join(tmpdir(), `${tag}-router-proc-`));

let redis: TestRedis;
let c: TestController;
let disc: Discovery;
let backend: Server;
let router: ChildProcess | null = null;
let httpPort = 0;
let adminPort = 0;
const pidFile = join(dir, 'router.pid');
// The router uses the platform's default key prefixes, as in production: this Redis is the test's own.
const env = { ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_REDIS_URL: '' };

function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, timeout: 30_000 }, (err, _out, stderr) =>
      res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }));
  });
}

before(async () => {
  redis = await startTestRedis();
  env.SLIPWAY_REDIS_URL = redis.url;
  c = await startTestController({ redis, keyPrefix: 'ctl:' });
  disc = createDiscovery({ url: redis.url });
  backend = createServer((req, res) => res.end(`hello from ${req.headers['x-forwarded-for']} via ${req.headers.via}\n`));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
});

after(async () => {
  if (router && router.exitCode === null && router.signalCode === null) router.kill('SIGKILL');
  backend?.close();
  await disc?.close();
  await c?.close();
  await redis?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('slipway router', { timeout: 60_000 }, () => {
  it('refuses bad flags and a missing Redis with a clear message', async () => {
    const bad = await cli(['router', '--http-port', 'eighty']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--http-port must be a port number/);
    const none = await cli(['router'], { SLIPWAY_REDIS_URL: '' });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /needs the cluster's Redis/);
  });

  it('serves the controller\'s apps with backends from discovery, and writes access lines to the app\'s log', async () => {
    assert.equal((await c.request('POST', '/v1/apps', { token: c.adminToken, body: { name: 'solo' } })).status, 201);
    await disc.register('solo-web', { id: 'solo-1', addr: `127.0.0.1:${(backend.address() as { port: number }).port}` }, { ttlMs: 30_000, heartbeatMs: 1000 });
    httpPort = await freePort();
    adminPort = await freePort();
    router = spawn(process.execPath, [BIN, 'router', '--bind', '127.0.0.1', '--http-port', String(httpPort), '--no-https', '--admin-port', String(adminPort), '--pid-file', pidFile], {
      env, stdio: ['ignore', 'ignore', 'inherit'],
    });
    await until('the router serves', async () => (await httpGet(adminPort, '/healthz').catch(() => ({ status: 0 }))).status === 200, 20_000);
    assert.equal(readFileSync(pidFile, 'utf8').trim(), String(router.pid));
    const r = await httpGet(httpPort, '/hi', { host: 'solo.localhost', 'x-request-id': 'solo-req-1' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hello from 127.0.0.1 via 1.1 slipway\n');
    assert.equal((await httpGet(httpPort, '/', { host: 'other.localhost' })).status, 404);
    const line = await until('the access line', async () => {
      const l = await c.request('GET', '/v1/apps/solo/logs?source=router', { token: c.adminToken });
      return l.text.split('\n').filter(Boolean).map((x) => JSON.parse(x) as { message: string }).find((x) => x.message.includes('request_id=solo-req-1'));
    }, 10_000);
    assert.match(line.message, /method=GET path="\/hi" host=solo\.localhost .*status=200/);
  });

  it('stops on SIGTERM: exit 0, pid file gone', async () => {
    const exited = new Promise<number | null>((r) => router!.once('exit', (code) => r(code)));
    router!.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(existsSync(pidFile), false);
    assert.equal((await httpGet(httpPort, '/', { host: 'solo.localhost' }).catch(() => ({ status: 0 }))).status, 0);
  });
});
