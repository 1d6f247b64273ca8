// An app released through the controller (busybox httpd in real runc containers, on a whole
// in-process platform) answers through a router started in-process with `Host: <app>.localhost`;
// scaled to two processes it is served by both; maintenance mode and back.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../layer0/common/logger.ts';
import { startRouter, type RunningRouter } from '../../layer1/router/server.ts';
import { httpGet } from '../helpers/http.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { until } from '../helpers/wait.ts';

// Each process writes a page naming itself, then serves it.
const WEB = 'mkdir -p /tmp/www && echo "hello from $SLIPWAY_APP $SLIPWAY_RELEASE $(hostname)" > /tmp/www/index.html && exec httpd -f -p $PORT -h /tmp/www';
const home = mkdtempSync(join(tmpdir(), `${process.env.SLIPWAY_TEST_PREFIX ?? 'slwt'}-rp-`));
let p: TestPlatform;
let router: RunningRouter;

before(async () => {
  p = await startTestPlatform();
  router = await startRouter({
    redisUrl: p.redis.url, controllerPrefix: p.controller.store.keys.prefix, discovery: p.discovery,
    httpPort: 0, adminPort: null, httpsPort: null, home, log: silentLogger,
  });
});

after(async () => {
  await router?.close(500);
  if (p) assert.deepEqual(await p.close(), []);
  rmSync(home, { recursive: true, force: true });
});

describe('an app released through the controller, through the router', { timeout: 180_000 }, () => {
  it('answers on <app>.localhost, from every process, and goes into maintenance and back', async () => {
    const v1 = (method: string, path: string, body?: unknown) => p.request(method, `/v1${path}`, { token: p.adminToken, ...(body === undefined ? {} : { body }) });
    assert.equal((await v1('POST', '/apps', { name: 'hello' })).status, 201);
    const get = () => httpGet(router.http.port, '/', { host: 'hello.localhost' });
    assert.equal((await get()).status, 503, 'no process yet: the 503 page');
    const rel = await v1('POST', '/apps/hello/releases?wait=true', { image: 'bb:1', imageUrl: p.imageUrl, procfile: { web: WEB } });
    assert.equal(rel.status, 201, rel.text);
    assert.equal(rel.body.deployment.state, 'succeeded', rel.text);
    const res = await until('served through the router', async () => {
      const r = await get();
      return r.status === 200 && r;
    }, 10_000);
    assert.match(res.body, /^hello from hello v1 /);

    const scaled = await v1('PATCH', '/apps/hello/formation?wait=true', { web: 2 });
    assert.equal(scaled.status, 200, scaled.text);
    const seen = await until('both processes serve', async () => {
      const bodies = new Set<string>();
      for (let i = 0; i < 30; i++) bodies.add((await get()).body);
      return bodies.size === 2 && bodies;
    }, 20_000);
    for (const b of seen) assert.match(b, /^hello from hello v1 /);

    assert.equal((await v1('PUT', '/apps/hello/maintenance')).status, 200);
    await until('the maintenance page', async () => (await get()).status === 503, 2000, 10);
    assert.equal((await v1('DELETE', '/apps/hello/maintenance')).status, 204);
    await until('served again', async () => (await get()).status === 200, 2000, 10);
  });

  it('a rename serves the new hostname throughout its rollout: the old processes until the new ones register', async () => {
    const v1 = (method: string, path: string, body?: unknown) => p.request(method, `/v1${path}`, { token: p.adminToken, ...(body === undefined ? {} : { body }) });
    const get = () => httpGet(router.http.port, '/', { host: 'hello2.localhost' });
    assert.equal((await v1('PATCH', '/apps/hello', { name: 'hello2' })).status, 200);
    await until('the new hostname routed', async () => (await get()).status === 200, 2000, 10);
    const statuses = new Map<number, number>();
    const bodies = new Set<string>();
    await until('served by processes of the new name', async () => {
      const r = await get();
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      bodies.add(r.body.split(' ').slice(0, 3).join(' '));
      return r.body.startsWith('hello from hello2 ');
    }, 60_000, 20);
    assert.deepEqual([...statuses.keys()], [200], `every answer during the rollout: ${JSON.stringify([...statuses])}`);
    assert.ok(bodies.has('hello from hello'), 'the old processes served meanwhile');
  });
});
