// Issue 13 H5: one tenant cannot fill Redis and stop the platform. Against a whole in-process
// platform (real Redis with a maxmemory and noeviction, as the embedded one runs, an agent, the
// scheduler, the controller): app A's log is flooded as fast as the shipper's writer takes it
// (64 KiB lines, far more bytes than Redis may hold), while app B changes its config and deploys
// a release through the API: B's calls succeed, A's stream stays within its byte budget and
// Redis's used memory below maxmemory. Then `GET /v1/status` raises an alarm once Redis is near
// its maxmemory; and the embedded Redis is started with a maxmemory.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../layer0/common/logger.ts';
import { connectRedis } from '../../layer0/discovery/redis.ts';
import { redisConfig, redisMaxmemory, startRedis } from '../../layer0/discovery/redis-server.ts';
import { opsRoutes } from '../../layer1/controller/ops/index.ts';
import { LogKeys, logLimits } from '../../layer1/logs/types.ts';
import { LogWriter } from '../../layer1/logs/writer.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { sleep } from '../helpers/wait.ts';

const WEB = "sh -c 'httpd -f -p $PORT -h /'";
const LINE = 64 * 1024;
let p: TestPlatform;
const api = <T = any>(method: string, path: string, token: string, body?: unknown) => p.request<T>(method, `/v1${path}`, { token, body });

const home = mkdtempSync(join(tmpdir(), `${process.env.SLIPWAY_TEST_PREFIX ?? 'slwt'}-budget-home-`));

before(async () => {
  p = await startTestPlatform({ hosts: 1, home, routes: (deps, l0) => opsRoutes(deps, { home, ...l0, routerNotReady: () => null }) });
});

after(async () => {
  const leaks = await p?.close();
  rmSync(home, { recursive: true, force: true });
  assert.deepEqual(leaks ?? [], []);
});

describe('one tenant cannot fill Redis (issue 13 H5)', { timeout: 300_000 }, () => {
  it("app A logging as fast as it can leaves app B's config change and deploy working, and Redis within its budget", async () => {
    const admin = p.adminToken;
    for (const name of ['flood', 'steady']) assert.equal((await api('POST', '/apps', admin, { name })).status, 201);
    const first = await api('POST', '/apps/steady/releases?wait=true', admin, { image: 'bb:1', imageUrl: p.imageUrl, procfile: { web: WEB } });
    assert.equal(first.status, 201, first.text);
    const floodId = (await api('GET', '/apps/flood', admin)).body.id as string;

    const redis = p.redis.connect();
    const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);
    // Redis as the embedded one runs (noeviction) with room for the platform plus A's default budget and some.
    const budget = logLimits().defaultBytes;
    const maxmemory = (await usedMemory()) + budget + 48 * 2 ** 20;
    await redis.config('SET', 'maxmemory', String(maxmemory));
    assert.equal((await redis.config('GET', 'maxmemory-policy'))[1], 'noeviction');
    try {
      // A: the shipper's own write path (a bounded queue per app, one Lua script per batch), fed at its max rate.
      const writer = new LogWriter(p.redis.connect(), new LogKeys(p.controller.store.keys.prefix), silentLogger);
      const keys = new LogKeys(p.controller.store.keys.prefix);
      const target = maxmemory * 2; // far beyond what Redis may hold
      let written = 0;
      let stop = false;
      let peak = 0;
      const line = 'x'.repeat(LINE - 100);
      const flood = (async () => {
        for (let n = 0; !stop && written < target; n++) {
          const batch = Array.from({ length: 64 }, (_, i) => ({ fields: ['t', new Date().toISOString(), 'src', 'app', 'type', 'web', 'ps', 'web.1', 's', 'stdout', 'msg', `${n}.${i} ${line}`] }));
          await writer.push(floodId, batch);
          written += 64 * LINE;
        }
      })();
      const sampler = (async () => {
        while (!stop) {
          peak = Math.max(peak, await usedMemory());
          await sleep(50);
        }
      })();

      // B, meanwhile, through the API: a config change (a new release) and a release of its image, each rolled out.
      await sleep(500);
      const config = await api('PATCH', '/apps/steady/config?wait=true', admin, { GREETING: 'still here' });
      const release = await api('POST', '/apps/steady/releases?wait=true', admin, { image: 'bb:1', imageUrl: p.imageUrl, procfile: { web: WEB } });
      await flood;
      await writer.drained();
      stop = true;
      await sampler;
      await writer.close();

      assert.equal(config.status, 200, `config change while A floods: ${config.text}`);
      assert.equal(config.body.deployment?.state, 'succeeded', JSON.stringify(config.body.deployment));
      assert.equal(release.status, 201, `release while A floods: ${release.text}`);
      assert.equal(release.body.deployment?.state, 'succeeded', JSON.stringify(release.body.deployment));
      assert.ok(written >= target, `A wrote ${written} bytes`);
      const kept = Number(await redis.get(keys.logBytes(floodId)));
      assert.ok(kept <= budget, `A's stream holds ${kept} bytes, budget ${budget}`);
      // Redis's own memory for it is the data plus the allocator's rounding (up to a quarter for 64 KiB lines).
      const streamMem = Number(await redis.memory('USAGE', keys.logs(floodId), 'SAMPLES', 0));
      assert.ok(streamMem <= budget * 1.3, `A's stream takes ${streamMem} bytes of Redis memory`);
      assert.ok(peak < maxmemory, `Redis peaked at ${peak} of ${maxmemory} bytes`);
      // B's log still reads.
      assert.equal((await api('GET', '/apps/steady/logs?tail=10', admin)).status, 200);
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
  });

  it('GET /v1/status raises an alarm when Redis is above 80% of its maxmemory (numbers for admins only)', async () => {
    const redis = p.redis.connect();
    const calm = await api('GET', '/status', p.adminToken);
    assert.equal(calm.status, 200, calm.text);
    assert.deepEqual(calm.body.alarms, []);
    assert.equal(calm.body.redis.maxBytes, 0);
    const used = Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);
    await redis.config('SET', 'maxmemory', String(Math.floor(used * 1.1)));
    try {
      const hot = await api('GET', '/status', p.adminToken);
      assert.equal(hot.body.alarms.length, 1, JSON.stringify(hot.body.alarms));
      assert.match(hot.body.alarms[0], /redis memory at 9\d% of maxmemory.*SLIPWAY_REDIS_MAXMEMORY/);
      const r = hot.body.components.find((c: { name: string }) => c.name === 'redis');
      assert.equal(r.ok, false);
      assert.match(r.detail, /near maxmemory/);
      assert.ok(hot.body.redis.usedBytes > 0 && hot.body.redis.maxBytes > 0);
      const viewer = await p.user('status-viewer');
      const seen = await api('GET', '/status', viewer);
      assert.equal(seen.status, 200, seen.text);
      assert.equal(seen.body.alarms.length, 1, 'everyone sees the alarm (their deploys fail too)');
      assert.equal(seen.body.redis, null);
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
  });

  it('the embedded Redis runs with a maxmemory (SLIPWAY_REDIS_MAXMEMORY: a size or a share of RAM) and noeviction', async () => {
    assert.equal(redisMaxmemory({ SLIPWAY_REDIS_MAXMEMORY: '2G' }), 2 * 2 ** 30);
    assert.equal(redisMaxmemory({ SLIPWAY_REDIS_MAXMEMORY: '50%' }, 8 * 2 ** 30), 4 * 2 ** 30);
    assert.equal(redisMaxmemory({}, 8 * 2 ** 30), 2 * 2 ** 30, 'a quarter of RAM by default');
    assert.throws(() => redisMaxmemory({ SLIPWAY_REDIS_MAXMEMORY: 'lots' }), /SLIPWAY_REDIS_MAXMEMORY/);
    assert.match(redisConfig({ dir: '/d', socketPath: '/s', maxmemoryBytes: 123 * 2 ** 20 }), /^maxmemory 128974848$/m);
    const tag = process.env.SLIPWAY_TEST_PREFIX ?? 'slwt';
    const dir = mkdtempSync(join(tmpdir(), `${tag}-redis-mm-`));
    const server = await startRedis({ dir: join(dir, 'data'), socketPath: join(dir, 'redis.sock'), maxmemoryBytes: 96 * 2 ** 20, dieWithParent: true });
    const c = connectRedis(server.url);
    try {
      assert.equal((await c.config('GET', 'maxmemory'))[1], String(96 * 2 ** 20));
      assert.equal((await c.config('GET', 'maxmemory-policy'))[1], 'noeviction');
    } finally {
      c.disconnect();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
