// The router's control plane against a real Redis, real discovery and the real proxy, with
// local Node HTTP servers as backends: route changes through the controller's API (app created,
// domain added, rename, maintenance, certificate) take effect well under a second; backends
// follow discovery; TLS picks one of two certificates by SNI; the certs API refuses bad input
// and never returns a key; path-route permissions; /metrics and /healthz on the admin port; and
// the churn test of issue 5: backends added, drained and removed 20 times under keep-alive load
// with zero failed requests.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../layer0/common/logger.ts';
import { createDiscovery } from '../../layer0/discovery/client.ts';
import type { Discovery, Registration } from '../../layer0/discovery/types.ts';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import { createDeploy, type Deploy } from '../../layer1/controller/deploy/index.ts';
import { startRouter, type RunningRouter } from '../../layer1/router/server.ts';
import { ROUTER_KEYS } from '../../layer1/router/types.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { httpGet } from '../helpers/http.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';
import { sleep, until } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const tag = process.env.SLIPWAY_TEST_PREFIX ?? 'slwt';
const dir = mkdtempSync(join(tmpdir(), `${tag}-router-`));
const L0 = 'rl0:';

let redis: TestRedis;
let scheduler: ReturnType<typeof createSchedulerClient>;
let deploy: Deploy;
let c: TestController;
let disc: Discovery;
let router: RunningRouter;
let admin: string;
let ctlPrefix: string;

interface TestBackend { name: string; port: number; server: Server; hits: number; reg: Registration | null; close(): Promise<void> }
const backends: TestBackend[] = [];

/** A local HTTP server that names itself (after `delayMs`), registered in discovery under `service`. */
async function backend(name: string, service: string | null, delayMs = 0): Promise<TestBackend> {
  const b = { name, hits: 0, reg: null } as unknown as TestBackend;
  const server = createServer((req, res) => {
    b.hits++;
    req.resume();
    const answer = () => res.end(`${name} ${req.headers.host} ${req.url}`);
    req.on('end', () => (delayMs ? setTimeout(answer, delayMs) : answer()));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  Object.assign(b, {
    server,
    port: (server.address() as { port: number }).port,
    async close() {
      await b.reg?.deregister().catch(() => undefined);
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    },
  });
  if (service) b.reg = await disc.register(service, { id: name, addr: `127.0.0.1:${b.port}` }, { ttlMs: 10_000, heartbeatMs: 1000 });
  backends.push(b);
  return b;
}

const get = (host: string, path = '/') => httpGet(router.http.port, path, { host });
const api = (method: string, path: string, body?: unknown, token = admin) => c.request(method, `/v1${path}`, { token, ...(body === undefined ? {} : { body }) });

/** Polls (every 5 ms) until `check` holds; returns how long it took in ms. */
async function took(what: string, check: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  await until(what, async () => (await check().catch(() => false)) || null, 5000, 5);
  return performance.now() - t0;
}
const servedBy = async (host: string, name: string, path = '/') => {
  const r = await get(host, path);
  return r.status === 200 && r.body.startsWith(`${name} `);
};

async function selfSigned(name: string, names: string[]): Promise<{ cert: string; key: string; fingerprint: string }> {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  await execFileP('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`, '-keyout', key, '-out', crt]);
  const cert = readFileSync(crt, 'utf8');
  return { cert, key: readFileSync(key, 'utf8'), fingerprint: new X509Certificate(cert).fingerprint256 };
}

/** A certificate that expired in 2020 (`openssl req` cannot backdate; `openssl ca` can). */
async function expired(): Promise<{ cert: string; key: string }> {
  const ca = mkdtempSync(join(dir, 'ca-'));
  writeFileSync(join(ca, 'index.txt'), '');
  writeFileSync(join(ca, 'serial'), '01\n');
  writeFileSync(join(ca, 'ca.cnf'), '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n');
  const o = { cwd: ca };
  await execFileP('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=old.test', '-keyout', 'k.pem', '-out', 'r.csr'], o);
  await execFileP('openssl', ['ca', '-batch', '-notext', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'k.pem', '-in', 'r.csr', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-out', 'c.pem'], o);
  return { cert: readFileSync(join(ca, 'c.pem'), 'utf8'), key: readFileSync(join(ca, 'k.pem'), 'utf8') };
}

/** The fingerprint of the certificate the router presents for an SNI name. */
function presented(servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: router.https!.port, servername, rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
    s.setTimeout(3000, () => s.destroy(new Error('tls timeout')));
  });
}

before(async () => {
  redis = await startTestRedis();
  scheduler = createSchedulerClient({ redisUrl: redis.url, keyPrefix: redis.prefix('l0s') });
  ctlPrefix = redis.prefix('ctl');
  // The deploy core (never started: nothing runs) so the domain routes are in the table.
  deploy = createDeploy({ redis: redis.url, keyPrefix: ctlPrefix, scheduler });
  c = await startTestController({ redis, keyPrefix: ctlPrefix, deploy: { deploy, scheduler } });
  admin = c.adminToken;
  disc = createDiscovery({ url: redis.url, keyPrefix: L0 });
  router = await startRouter({
    redisUrl: redis.url, controllerPrefix: ctlPrefix, discovery: disc, domain: 'localhost',
    httpPort: 0, httpsPort: 0, adminPort: 0, home: join(dir, 'home'), log: silentLogger, resyncMs: 1000,
  });
});

after(async () => {
  await router?.close(500);
  for (const b of backends) await b.close();
  await disc?.close();
  await c?.close();
  await deploy?.close();
  scheduler?.close();
  await redis?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('router control plane', { timeout: 120_000 }, () => {
  it('an app created, a domain added, a rename, maintenance on and off: each takes effect well under a second', async () => {
    await backend('shop-a', 'shop-web');
    assert.equal((await get('shop.localhost')).status, 404, 'unknown before the app exists');
    assert.equal((await api('POST', '/apps', { name: 'shop' })).status, 201);
    const created = await took('shop.localhost served', () => servedBy('shop.localhost', 'shop-a'));

    assert.equal((await api('POST', '/apps/shop/domains', { domain: 'www.shop.test' })).status, 201);
    const domain = await took('www.shop.test served', () => servedBy('www.shop.test', 'shop-a'));
    assert.equal((await api('POST', '/apps/shop/domains', { domain: '*.shop.test' })).status, 201);
    await took('a wildcard subdomain served', () => servedBy('x.shop.test', 'shop-a'));

    assert.equal((await api('PATCH', '/apps/shop', { name: 'shop2' })).status, 200);
    // Until processes register under the new name, the old service serves (no 503 during a rename).
    const renamed = await took('shop2.localhost served by the old service', () => servedBy('shop2.localhost', 'shop-a'));
    assert.equal((await get('shop.localhost')).status, 404, 'the old name is gone');
    await backend('shop2-a', 'shop2-web');
    await took('the new service takes over', () => servedBy('shop2.localhost', 'shop2-a'));

    assert.equal((await api('PUT', '/apps/shop2/maintenance')).body.maintenance, true);
    const on = await took('the maintenance page', async () => (await get('shop2.localhost')).status === 503);
    assert.match((await get('www.shop.test')).body, /maintenance/i);
    assert.equal((await api('GET', '/apps/shop2/maintenance')).body.maintenance, true);
    assert.equal((await api('DELETE', '/apps/shop2/maintenance')).status, 204);
    const off = await took('served again', () => servedBy('shop2.localhost', 'shop2-a'));

    assert.equal((await api('DELETE', `/apps/shop2/domains/${encodeURIComponent('*.shop.test')}`)).status, 204);
    const removed = await took('the removed wildcard unknown', async () => (await get('x.shop.test')).status === 404);
    assert.ok(await servedBy('www.shop.test', 'shop2-a'), 'the exact domain stays');
    for (const [what, ms] of Object.entries({ created, domain, renamed, on, off, removed })) assert.ok(ms < 500, `${what} took ${ms.toFixed(0)} ms`);

    assert.equal((await api('DELETE', '/apps/shop2')).status, 204);
    await took('a deleted app is unknown', async () => (await get('shop2.localhost')).status === 404);
    const redisConn = redis.connect();
    assert.equal(await redisConn.hlen(ROUTER_KEYS.apps(ctlPrefix)), 0, 'no route left for a deleted app');
  });

  it('backends follow discovery: registered, deregistered, none (503)', async () => {
    assert.equal((await api('POST', '/apps', { name: 'pool' })).status, 201);
    await took('the app is routed', async () => (await get('pool.localhost')).status === 503);
    const one = await backend('pool-1', 'pool-web');
    const up = await took('pool-1 serves', () => servedBy('pool.localhost', 'pool-1'));
    const two = await backend('pool-2', 'pool-web');
    await took('both serve', async () => router.table.resolve('pool.localhost', '/')?.pool.backends.length === 2);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add((await get('pool.localhost')).body.split(' ')[0]!);
    assert.deepEqual([...seen].sort(), ['pool-1', 'pool-2']);
    await one.reg!.deregister();
    const gone = await took('only pool-2 left', async () => {
      for (let i = 0; i < 10; i++) if (!(await servedBy('pool.localhost', 'pool-2'))) return false;
      return true;
    });
    await two.reg!.deregister();
    const none = await took('503 without backends', async () => (await get('pool.localhost')).status === 503);
    for (const [what, ms] of Object.entries({ up, gone, none })) assert.ok(ms < 500, `${what} took ${ms.toFixed(0)} ms`);
  });

  it('TLS: two certificates from the API chosen by SNI, the default one otherwise', async () => {
    const a = await selfSigned('a', ['a.tls.test']);
    const b = await selfSigned('b', ['*.b.tls.test']);
    for (const [name, domain] of [['tlsa', 'a.tls.test'], ['tlsb', '*.b.tls.test']]) {
      assert.equal((await api('POST', '/apps', { name })).status, 201);
      assert.equal((await api('POST', `/apps/${name}/domains`, { domain })).status, 201);
    }
    const added = await api('POST', '/apps/tlsa/certs', { cert: a.cert, key: a.key });
    assert.equal(added.status, 201, added.text);
    assert.deepEqual(added.body.names, ['a.tls.test']);
    assert.equal(added.body.fingerprint, a.fingerprint);
    assert.equal(added.body.expired, false);
    assert.ok(!added.text.includes('PRIVATE KEY'), 'the key is never returned');
    const tookA = await took('a.tls.test presents its certificate', async () => (await presented('a.tls.test')) === a.fingerprint);
    assert.ok(tookA < 500, `cert took ${tookA.toFixed(0)} ms`);
    assert.equal((await api('POST', '/apps/tlsb/certs', { cert: b.cert, key: b.key })).status, 201);
    await took('x.b.tls.test presents the wildcard', async () => (await presented('x.b.tls.test')) === b.fingerprint);
    assert.equal(await presented('a.tls.test'), a.fingerprint);
    const def = new X509Certificate(readFileSync(join(dir, 'home', 'router', 'default.crt'))).fingerprint256;
    assert.equal(await presented('tlsa.localhost'), def, 'the default certificate for *.localhost');
    assert.equal(await presented('deep.x.b.tls.test'), def, 'a wildcard covers one label');

    const list = await api('GET', '/apps/tlsa/certs');
    assert.equal(list.status, 200);
    assert.equal(list.body.items.length, 1);
    assert.ok(!list.text.includes('PRIVATE KEY'));
    assert.equal((await api('POST', '/apps/tlsa/certs', { cert: a.cert, key: a.key })).status, 409, 'the same certificate twice');
    const id = list.body.items[0].id as string;
    assert.equal((await api('DELETE', `/apps/tlsa/certs/${id}`)).status, 204);
    await took('back to the default certificate', async () => (await presented('a.tls.test')) === def);
    assert.equal((await api('DELETE', `/apps/tlsa/certs/${id}`)).status, 404);
  });

  it('the certs API refuses bad input with 422 and a clear message', async () => {
    const a = await selfSigned('ba', ['bad-a.test']);
    const b = await selfSigned('bb', ['bad-b.test']);
    const old = await expired();
    assert.equal((await api('POST', '/apps', { name: 'badcert' })).status, 201);
    const cases: [string, unknown, RegExp][] = [
      ['mismatched key', { cert: a.cert, key: b.key }, /does not match/],
      ['garbage certificate', { cert: 'garbage', key: a.key }, /not a PEM certificate/],
      ['garbage key', { cert: a.cert, key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }, /not an unencrypted PEM private key/],
      ['expired', { cert: old.cert, key: old.key }, /expired/],
    ];
    for (const [what, body, msg] of cases) {
      const r = await api('POST', '/apps/badcert/certs', body);
      assert.equal(r.status, 422, `${what}: ${r.text}`);
      assert.match(r.body.error.message, msg, what);
      assert.ok(!r.text.includes('PRIVATE KEY'), what);
    }
    assert.equal((await api('POST', '/apps/badcert/certs', { cert: a.cert })).status, 422, 'no key');
    assert.equal((await api('POST', '/apps/badcert/certs', { cert: a.cert, key: a.key, extra: 1 })).status, 422, 'unknown field');
    assert.equal((await api('GET', '/apps/badcert/certs')).body.items.length, 0);
  });

  it('path routes: on its own host, on another app\'s host only for an owner of both; conflicts; longest prefix wins', async () => {
    const bob = await c.user('bob');
    const alice = await c.user('alice');
    assert.equal((await api('POST', '/apps', { name: 'bobapi' }, bob)).status, 201);
    assert.equal((await api('POST', '/apps', { name: 'aliceweb' }, alice)).status, 201);
    await backend('bobapi-1', 'bobapi-web');
    await backend('aliceweb-1', 'aliceweb-web');
    await took('aliceweb served', () => servedBy('aliceweb.localhost', 'aliceweb-1'));

    const onOther = await api('POST', '/apps/bobapi/routes', { host: 'aliceweb.localhost', path: '/api' }, bob);
    assert.equal(onOther.status, 403, onOther.text);
    assert.match(onOther.body.error.message, /belongs to another app/);
    assert.equal((await api('POST', '/apps/bobapi/routes', { host: 'nobody.example.com', path: '/x' }, bob)).status, 422, 'a host no app answers on');
    assert.equal((await api('POST', '/apps/bobapi/routes', { host: 'aliceweb.localhost', path: '/../x' }, bob)).status, 422, 'dot segments');
    // An owner of both apps may.
    assert.equal((await api('PUT', '/apps/aliceweb/access/bob', { role: 'owner' }, alice)).status, 200);
    const made = await api('POST', '/apps/bobapi/routes', { host: 'aliceweb.localhost', path: '/api/' }, bob);
    assert.equal(made.status, 201, made.text);
    assert.equal(made.body.path, '/api', 'the trailing slash dropped');
    assert.equal((await api('POST', '/apps/aliceweb/routes', { host: 'aliceweb.localhost', path: '/api' }, alice)).status, 409, 'one app per host and path');
    const t = await took('/api goes to bobapi', () => servedBy('aliceweb.localhost', 'bobapi-1', '/api/users'));
    assert.ok(t < 500, `path route took ${t.toFixed(0)} ms`);
    assert.ok(await servedBy('aliceweb.localhost', 'bobapi-1', '/api'));
    assert.ok(await servedBy('aliceweb.localhost', 'aliceweb-1', '/apix'), 'a prefix matches whole segments');
    assert.ok(await servedBy('aliceweb.localhost', 'aliceweb-1', '/'));
    // Its own host, a longer prefix back to aliceweb.
    assert.equal((await api('POST', '/apps/aliceweb/routes', { host: 'aliceweb.localhost', path: '/api/admin' }, alice)).status, 201);
    await took('the longest prefix wins', () => servedBy('aliceweb.localhost', 'aliceweb-1', '/api/admin/x'));
    const list = await api('GET', '/apps/bobapi/routes', undefined, bob);
    assert.deepEqual(list.body.items.map((r: { host: string; path: string }) => `${r.host}${r.path}`), ['aliceweb.localhost/api']);
    assert.equal((await api('DELETE', `/apps/bobapi/routes/${list.body.items[0].id}`, undefined, bob)).status, 204);
    await took('the route removed', () => servedBy('aliceweb.localhost', 'aliceweb-1', '/api/users'));
    // Settings: the HTTPS redirect.
    const s = await api('PATCH', '/apps/bobapi/settings', { httpsRedirect: true }, bob);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.body.httpsRedirect, true);
    assert.match(s.body.url, /^http:\/\/bobapi\.localhost:\d+\/$/);
    await took('a plain-HTTP request is redirected', async () => (await get('bobapi.localhost', '/p?q=1')).status === 308);
    assert.equal((await api('PATCH', '/apps/bobapi/settings', { httpsRedirect: 'yes' }, bob)).status, 422);
    const viewer = await c.user('vic', { app: 'bobapi', grant: 'view' });
    assert.equal((await api('PATCH', '/apps/bobapi/settings', { httpsRedirect: false }, viewer)).status, 403);
    assert.equal((await api('PUT', '/apps/bobapi/maintenance', undefined, viewer)).status, 403);
    assert.equal((await api('GET', '/apps/bobapi/settings', undefined, viewer)).status, 200);
  });

  it('the admin port: /healthz and /metrics with the control plane gauges', async () => {
    const h = await httpGet(router.admin!.port, '/healthz');
    assert.equal(h.status, 200);
    assert.equal(JSON.parse(h.body).status, 'ok');
    const m = await httpGet(router.admin!.port, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /^slipway_router_routes_version \d+$/m);
    assert.match(m.body, /^slipway_router_backends\{service="aliceweb-web"\} 1$/m);
    assert.equal((await get('aliceweb.localhost', '/metrics')).body.startsWith('aliceweb-1'), true, 'never on the apps\' port');
  });

  it('churn: backends added, drained and removed 20 times under keep-alive load, zero failed requests', { timeout: 90_000 }, async (t) => {
    assert.equal((await api('POST', '/apps', { name: 'churn' })).status, 201);
    // Answers take 5 ms, so a backend always has requests in flight when it is deregistered.
    const live: TestBackend[] = [await backend('churn-0', 'churn-web', 5), await backend('churn-1', 'churn-web', 5)];
    await took('both backends in use', async () => router.table.resolve('churn.localhost', '/')?.pool.backends.length === 2);
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const one = () => new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: router.http.port, path: '/x', agent, headers: { host: 'churn.localhost' } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode! >= 200 && res.statusCode! < 300) ok++;
          else failures.push(`status ${res.statusCode}`);
          resolve();
        });
      });
      req.on('error', (err) => (failures.push(err.message), resolve()));
      req.end();
    });
    const loops = Array.from({ length: 16 }, async () => {
      while (running) await one();
    });
    const inPool = (name: string) => router.table.resolve('churn.localhost', '/')?.pool.backends.some((b) => b.id === name) ?? false;
    for (let i = 2; i < 22; i++) {
      const fresh = await backend(`churn-${i}`, 'churn-web', 5);
      await took(`churn-${i} in the pool`, async () => inPool(fresh.name));
      live.push(fresh);
      await sleep(50);
      const old = live.shift()!;
      await old.reg!.deregister();
      await took(`${old.name} out of the pool`, async () => !inPool(old.name));
      await sleep(100); // its in-flight requests finish (the drain period)
      await old.close();
    }
    await sleep(200);
    running = false;
    await Promise.all(loops);
    agent.destroy();
    t.diagnostic(`${ok} requests, ${failures.length} failed, ${backends.filter((b) => b.name.startsWith('churn-')).length} backends over 20 churns`);
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${ok + failures.length} requests failed`);
    assert.ok(ok > 1000, `only ${ok} requests`);
    assert.ok(live.length === 2 && backends.filter((b) => b.name.startsWith('churn-')).every((b) => b.hits > 0), 'every backend served');
  });

  it('stateless: a second router on the same Redis starts with every route and follows changes', async () => {
    const second = await startRouter({
      redisUrl: redis.url, controllerPrefix: ctlPrefix, discovery: disc, httpPort: 0, httpsPort: null, adminPort: null, home: join(dir, 'home2'), log: silentLogger,
    });
    try {
      const via = (port: number) => httpGet(port, '/', { host: 'aliceweb.localhost' });
      assert.ok((await via(second.http.port)).body.startsWith('aliceweb-1'), 'routes and backends at start');
      assert.equal((await api('PUT', '/apps/aliceweb/maintenance')).status, 200);
      await took('both routers in maintenance', async () => (await via(router.http.port)).status === 503 && (await via(second.http.port)).status === 503);
      assert.equal((await api('DELETE', '/apps/aliceweb/maintenance')).status, 204);
      await took('both serve again', async () => (await via(router.http.port)).status === 200 && (await via(second.http.port)).status === 200);
    } finally {
      await second.close();
    }
  });

  it('a change whose message was lost arrives by the version check; after a Redis restart changes arrive again', { timeout: 60_000 }, async () => {
    const conn = redis.connect();
    const id = (await api('GET', '/apps/churn')).body.id as string;
    const route = JSON.parse((await conn.hget(ROUTER_KEYS.apps(ctlPrefix), id))!);
    // As if the controller's PUBLISH never reached this router: the routes and version change silently.
    await conn.hset(ROUTER_KEYS.apps(ctlPrefix), id, JSON.stringify({ ...route, maintenance: true }));
    await conn.incr(ROUTER_KEYS.version(ctlPrefix));
    await until('the silent change picked up by the periodic version check', async () => (await get('churn.localhost')).status === 503, 3000, 20);
    assert.equal((await api('DELETE', '/apps/churn/maintenance')).status, 204);
    await took('served again', async () => (await get('churn.localhost')).status === 200);

    await redis.restart(); // SIGKILL and start again on the same AOF: every connection reconnects
    assert.equal((await api('PUT', '/apps/churn/maintenance')).status, 200);
    await until('a change after the restart', async () => (await get('churn.localhost')).status === 503, 10_000, 20);
    assert.equal((await api('DELETE', '/apps/churn/maintenance')).status, 204);
    await until('and the next one', async () => (await get('churn.localhost')).status === 200, 10_000, 20);
    const fresh = await backend('churn-late', 'churn-web');
    await until('a backend registered after the restart is used', async () => router.table.resolve('churn.localhost', '/')?.pool.backends.some((b) => b.id === fresh.name), 10_000, 20);
  });
});
