// Hostname takeover (issue 13: H3, L2) through the controller's API and a real router: a path
// route outlives neither its host's owner nor covers, by a wildcard, other apps' names; names under
// SLIPWAY_DOMAIN and public suffixes cannot be claimed; a custom domain routes only once its TXT
// record (`_slipway-challenge.<domain>`, served by a DNS server of the test's on loopback) holds
// the token the API gave, and an unverified claim does not keep the real owner out.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../layer0/common/logger.ts';
import { createDiscovery } from '../../layer0/discovery/client.ts';
import type { Discovery, Registration } from '../../layer0/discovery/types.ts';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import { createDeploy, type Deploy } from '../../layer1/controller/deploy/index.ts';
import { DomainStore } from '../../layer1/controller/routes/domains.ts';
import { startRouter, type RunningRouter } from '../../layer1/router/server.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { startTestDns, type TestDns } from '../helpers/dns.ts';
import { httpGet } from '../helpers/http.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';
import { until } from '../helpers/wait.ts';

const tag = process.env.SLIPWAY_TEST_PREFIX ?? 'slwt';
const dir = mkdtempSync(join(tmpdir(), `${tag}-takeover-`));

let redis: TestRedis;
let scheduler: ReturnType<typeof createSchedulerClient>;
let deploy: Deploy;
let c: TestController;
let disc: Discovery;
let router: RunningRouter;
let dns: TestDns;
const closers: (() => Promise<unknown>)[] = [];

/** A backend that names itself, registered as `<service>`. */
async function backend(name: string, service: string): Promise<void> {
  const server: Server = createServer((req, res) => {
    req.resume();
    res.end(`${name} ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const reg: Registration = await disc.register(service, { id: name, addr: `127.0.0.1:${(server.address() as { port: number }).port}` }, { ttlMs: 10_000, heartbeatMs: 1000 });
  closers.push(async () => {
    await reg.deregister().catch(() => undefined);
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  });
}

const get = (host: string, path = '/') => httpGet(router.http.port, path, { host });
const api = (method: string, path: string, token: string, body?: unknown) => c.request(method, `/v1${path}`, { token, ...(body === undefined ? {} : { body }) });
/** Who answers host+path now (the backend's name), or the status when the router answers itself. */
const who = async (host: string, path = '/') => {
  const r = await get(host, path);
  return r.status === 200 ? r.body.split(' ')[0]! : String(r.status);
};
const settles = (what: string, host: string, want: string, path = '/') => until(what, async () => ((await who(host, path)) === want ? true : null), 5000, 10);

before(async () => {
  redis = await startTestRedis();
  dns = await startTestDns();
  scheduler = createSchedulerClient({ redisUrl: redis.url, keyPrefix: redis.prefix('l0s') });
  const ctlPrefix = redis.prefix('ctl');
  deploy = createDeploy({ redis: redis.url, keyPrefix: ctlPrefix, scheduler });
  // Verification on, as it is by default, against the test's DNS server.
  c = await startTestController({ redis, keyPrefix: ctlPrefix, deploy: { deploy, scheduler }, router: { domain: 'localhost', verifyDomains: true, dnsResolver: dns.server } });
  disc = createDiscovery({ url: redis.url, keyPrefix: 'tk0:' });
  router = await startRouter({
    redisUrl: redis.url, controllerPrefix: ctlPrefix, discovery: disc, domain: 'localhost',
    httpPort: 0, httpsPort: 0, adminPort: 0, home: join(dir, 'home'), log: silentLogger, resyncMs: 1000,
  });
});

after(async () => {
  await router?.close(500);
  for (const close of closers.reverse()) await close();
  await disc?.close();
  await c?.close();
  await deploy?.close();
  scheduler?.close();
  await dns?.close();
  await redis?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('hostname takeover (H3)', { timeout: 120_000 }, () => {
  it("a path route made while an app owned a host does not serve the host's next owner", async () => {
    const mallory = await c.user('mallory');
    const alice = await c.user('alice');
    await backend('evil-1', 'evil-web');
    await backend('shop-alice', 'shop-web');
    assert.equal((await api('POST', '/apps', mallory, { name: 'evil' })).status, 201);
    assert.equal((await api('POST', '/apps', mallory, { name: 'shop' })).status, 201);
    const route = await api('POST', '/apps/evil/routes', mallory, { host: 'shop.localhost', path: '/' });
    assert.equal(route.status, 201, route.text);
    await settles('evil serves shop.localhost while mallory owns shop', 'shop.localhost', 'evil-1');
    assert.equal((await api('DELETE', '/apps/shop', mallory)).status, 204);

    // alice's new app of the same name: hers alone, at once and after every later publish
    assert.equal((await api('POST', '/apps', alice, { name: 'shop' })).status, 201);
    await settles("alice's shop serves shop.localhost", 'shop.localhost', 'shop-alice');
    assert.equal(await who('shop.localhost', '/login'), 'shop-alice');
    assert.equal((await api('PUT', '/apps/evil/maintenance', mallory)).status, 200); // republishes evil's routes
    assert.equal((await api('DELETE', '/apps/evil/maintenance', mallory)).status, 204);
    assert.equal(await who('shop.localhost', '/'), 'shop-alice');
    const listed = await api('GET', '/apps/evil/routes', mallory);
    assert.deepEqual(listed.body.items.map((r: { host: string; active: boolean }) => [r.host, r.active]), [['shop.localhost', false]], 'shown as inactive');

    // the host's new owner may route its own paths; the stale claim does not stand in the way
    assert.equal((await api('POST', '/apps/shop/routes', alice, { host: 'shop.localhost', path: '/' })).status, 201);
    assert.equal((await api('GET', '/apps/evil/routes', mallory)).body.items.length, 0, 'the stale claim went');
  });

  it('names under SLIPWAY_DOMAIN (but the app\'s own) and public suffixes cannot be claimed as domains', async () => {
    const mallory = await c.user('mal2');
    assert.equal((await api('POST', '/apps', mallory, { name: 'grab' })).status, 201);
    for (const domain of ['*.localhost', 'shop.localhost', 'x.shop.localhost', 'localhost.localhost', 'co.uk', '*.co.uk', 'github.io', '*.github.io', 'com.au', '*.herokuapp.com']) {
      const r = await api('POST', '/apps/grab/domains', mallory, { domain });
      assert.equal(r.status, 422, `${domain}: ${r.text}`);
      assert.match(r.body.error.message, domain === '*.localhost' ? /a hostname like/ : /platform's domain|public suffix/);
    }
    // its own name and the names under it are fine, and route at once (no DNS to prove)
    const own = await api('POST', '/apps/grab/domains', mallory, { domain: '*.grab.localhost' });
    assert.equal(own.status, 201, own.text);
    assert.equal(own.body.verified, true);
    // a wildcard path route over the platform domain captures nobody else's app
    await backend('grab-1', 'grab-web');
    assert.equal((await api('POST', '/apps/grab/routes', mallory, { host: '*.grab.localhost', path: '/' })).status, 201);
    await settles('x.grab.localhost routed', 'x.grab.localhost', 'grab-1');
    assert.equal(await who('shop.localhost', '/'), 'shop-alice');
  });
});

describe('custom domains are verified by TXT (L2)', { timeout: 120_000 }, () => {
  it('a domain added before verification existed (no token) keeps routing after an upgrade', async () => {
    const carol = await c.user('carol');
    const made = await api('POST', '/apps', carol, { name: 'legacy' });
    assert.equal(made.status, 201);
    const store = c.controller.store;
    const redis = c.redis.connect();
    await redis.hset(`${store.keys.prefix}domains`, 'www.legacy.test', made.body.id);
    await redis.hset(`${store.keys.appPrefix(made.body.id)}domains`, 'www.legacy.test', JSON.stringify({ createdAt: new Date().toISOString(), createdBy: 'carol' }));
    redis.disconnect();
    const domains = new DomainStore(store, async () => undefined, { domain: 'localhost', verify: true });
    assert.equal(await domains.owner('www.legacy.test'), made.body.id);
    const listed = await api('GET', '/apps/legacy/domains', carol);
    assert.equal(listed.body.items[0].verified, true);
    const squat = await c.user('squat2');
    assert.equal((await api('POST', '/apps', squat, { name: 'squat2' })).status, 201);
    assert.equal((await api('POST', '/apps/squat2/domains', squat, { domain: 'www.legacy.test' })).status, 409, 'nor can it be taken');
  });

  it('an unverified domain does not route; the TXT token verifies it; a squatter cannot keep it', async () => {
    const bob = await c.user('bob');
    const squatter = await c.user('squatter');
    await backend('blog-1', 'blog-web');
    await backend('squat-1', 'squat-web');
    assert.equal((await api('POST', '/apps', bob, { name: 'blog' })).status, 201);
    assert.equal((await api('POST', '/apps', squatter, { name: 'squat' })).status, 201);

    // the squatter claims bob's domain first: it does not route, and does not keep bob out
    const squat = await api('POST', '/apps/squat/domains', squatter, { domain: 'www.bob-blog.test' });
    assert.equal(squat.status, 201, squat.text);
    assert.equal(squat.body.verified, false);
    assert.equal(await who('www.bob-blog.test'), '404');
    assert.equal((await api('POST', '/apps/squat/routes', squatter, { host: 'www.bob-blog.test', path: '/' })).status, 422, 'no path route on an unverified domain');

    const add = await api('POST', '/apps/blog/domains', bob, { domain: 'www.bob-blog.test' });
    assert.equal(add.status, 201, add.text);
    assert.equal(add.body.verified, false);
    assert.deepEqual(Object.keys(add.body.verification).sort(), ['name', 'type', 'value']);
    assert.equal(add.body.verification.name, '_slipway-challenge.www.bob-blog.test');
    assert.equal(add.body.verification.type, 'TXT');
    assert.equal((await api('GET', '/apps/squat/domains', squatter)).body.items.length, 0, "the squatter's unverified claim went to bob");

    const early = await api('POST', '/apps/blog/domains/www.bob-blog.test/verify', bob);
    assert.equal(early.status, 422, early.text);
    assert.match(early.body.error.message, /_slipway-challenge\.www\.bob-blog\.test has no TXT record/);
    assert.equal(await who('www.bob-blog.test'), '404', 'still not routed');

    dns.txt.set('_slipway-challenge.www.bob-blog.test', ['v=spf1 -all', add.body.verification.value]);
    const ok = await api('POST', '/apps/blog/domains/www.bob-blog.test/verify', bob);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.verified, true);
    assert.equal(ok.body.verification, undefined);
    await settles('the verified domain routes', 'www.bob-blog.test', 'blog-1');

    // once verified, nobody else can take it
    const late = await api('POST', '/apps/squat/domains', squatter, { domain: 'www.bob-blog.test' });
    assert.equal(late.status, 409, late.text);
    // another app's verify route on the domain: 404 (not theirs)
    assert.equal((await api('POST', '/apps/squat/domains/www.bob-blog.test/verify', squatter)).status, 404);
  });

  it('verification is on by default (SLIPWAY_DOMAIN_VERIFY unset) for domains outside SLIPWAY_DOMAIN', () => {
    const saved = process.env.SLIPWAY_DOMAIN_VERIFY;
    delete process.env.SLIPWAY_DOMAIN_VERIFY;
    try {
      const store = new DomainStore(c.controller.store, async () => undefined, { domain: 'apps.example.net' });
      assert.equal(store.needsVerification('www.example.org'), true);
      assert.equal(store.needsVerification('*.example.org'), true);
      assert.equal(store.needsVerification('x.shop.apps.example.net'), false);
    } finally {
      if (saved !== undefined) process.env.SLIPWAY_DOMAIN_VERIFY = saved;
    }
  });
});
