// Log drains as SSRF (issue 13, M6): a drain URL naming a loopback, link-local or private address
// is refused when it is added (422), and a drain that points there anyway (stored before the
// check, or a name that resolves there later) is refused again at connect time: the listener on
// loopback never sees a connection. SLIPWAY_URL_ALLOW lets the operator allow an address.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../layer0/common/logger.ts';
import { DrainSender } from '../../layer1/logs/drains.ts';
import { LogKeys } from '../../layer1/logs/types.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { until } from '../helpers/wait.ts';

let c: TestController;
before(async () => {
  delete process.env.SLIPWAY_URL_ALLOW;
  c = await startTestController();
  assert.equal((await c.request('POST', '/v1/apps', { token: c.adminToken, body: { name: 'drained' } })).status, 201);
});
after(async () => {
  delete process.env.SLIPWAY_URL_ALLOW;
  await c?.close();
});

const addDrain = (url: string) => c.request('POST', '/v1/apps/drained/drains', { token: c.adminToken, body: { url } });

describe('log drains cannot reach the platform\'s own network (M6)', { timeout: 60_000 }, () => {
  it('refuses loopback, link-local, private and reserved addresses when a drain is added (422)', async () => {
    for (const url of [
      'http://127.0.0.1:6379/', 'https://127.0.0.1:7000/v1', 'syslog://127.0.0.1:514', 'syslog+tcp://localhost:514',
      'http://localhost:7000/', 'http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/', 'http://172.31.0.1:2375/',
      'syslog://192.168.1.1:514', 'http://[::1]:7000/', 'http://[fe80::1]/', 'http://[::ffff:127.0.0.1]/', 'http://0.0.0.0:7000/',
      'http://100.64.0.1/', 'http://2130706433/',
    ]) {
      const r = await addDrain(url);
      assert.equal(r.status, 422, `${url}: ${r.status} ${r.text}`);
      assert.match(r.body.error.message, /loopback, link-local or private|does not resolve/, url);
    }
    assert.equal((await c.request('GET', '/v1/apps/drained/drains', { token: c.adminToken })).body.items.length, 0);
  });

  it('refuses the connect too: a stored drain to loopback never reaches its listener, unless the operator allows it', async () => {
    let connections = 0;
    const server = createServer((s) => {
      connections++;
      s.resume();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const redis = c.redis.connect();
    const keys = new LogKeys(c.controller.store.keys.prefix);
    const appId = (await redis.hget(c.controller.store.keys.appNames, 'drained'))!;
    // Drains written straight to Redis, as one added before this check or by an old version would be.
    const drains = {
      byAddress: { id: 'drn_addr', url: `syslog://127.0.0.1:${port}`, createdAt: new Date().toISOString() },
      byName: { id: 'drn_name', url: `http://localhost:${port}/logs`, createdAt: new Date().toISOString() },
    };
    for (const d of Object.values(drains)) {
      await redis.hset(keys.drains(appId), d.id, JSON.stringify(d));
      await redis.hset(keys.drainCursors(appId), d.id, '0-0');
    }
    await redis.sadd(keys.drainApps, appId);
    await redis.xadd(keys.logs(appId), '*', 't', new Date().toISOString(), 'msg', 'secret line', 's', 'stdout', 'src', 'app', 'ps', 'web.1');
    const sender = new DrainSender(redis, keys, silentLogger, { intervalMs: 50 });
    try {
      await until('both drains tried and refused', () => (sender.stats.failed >= 2 ? true : null), 10_000);
      assert.equal(connections, 0, 'nothing connected to the loopback listener');
      assert.equal(sender.stats.sent, 0);
    } finally {
      await sender.close();
    }
    // The operator's allow-list opens it (tests, on-site collectors).
    process.env.SLIPWAY_URL_ALLOW = '127.0.0.1';
    const allowed = new DrainSender(redis, keys, silentLogger, { intervalMs: 50 });
    try {
      await until('the allowed syslog drain connects', () => (connections > 0 ? true : null), 15_000);
    } finally {
      await allowed.close();
      delete process.env.SLIPWAY_URL_ALLOW;
      await new Promise<void>((r) => {
        server.close(() => r());
      });
      redis.disconnect();
    }
  });
});
