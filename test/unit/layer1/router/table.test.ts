// The route table on plain data: default hostnames, custom and wildcard domains (the most
// specific wins), path prefixes (longest first, whole segments, on wildcard hosts too), the
// pool objects kept across rebuilds; and instance addresses parsed for backends.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../../layer0/common/logger.ts';
import { parseAddr } from '../../../../layer1/router/backends.ts';
import { CertStore } from '../../../../layer1/router/certs.ts';
import { LiveRouteTable } from '../../../../layer1/router/table.ts';
import type { AppRoute, BackendPool } from '../../../../layer1/router/types.ts';

const app = (id: string, name: string, o: Partial<AppRoute> = {}): AppRoute => ({ id, name, service: `${name}-web`, domains: [], paths: [], maintenance: false, httpsRedirect: false, ...o });

function table(apps: AppRoute[]) {
  const pools = new Map<string, BackendPool>();
  const t = new LiveRouteTable('localhost', (s) => pools.get(s) ?? (pools.set(s, { service: s, backends: [] }), pools.get(s)!), new CertStore(silentLogger));
  t.setRoutes(apps);
  const who = (host: string, path = '/') => t.resolve(host, path)?.app.name ?? null;
  return { t, who, pools };
}

describe('route table', () => {
  it('default hostnames, custom domains, wildcards (most specific first), unknown hosts', () => {
    const { who } = table([
      app('a1', 'shop', { domains: ['www.shop.com', '*.shop.com'] }),
      app('a2', 'blog', { domains: ['*.blog.shop.com', 'blog.example.org'] }),
    ]);
    assert.equal(who('shop.localhost'), 'shop');
    assert.equal(who('shop.localhost.'), 'shop', 'a trailing dot');
    assert.equal(who('www.shop.com'), 'shop');
    assert.equal(who('x.shop.com'), 'shop');
    assert.equal(who('a.b.shop.com'), 'shop', 'a routing wildcard covers deeper names');
    assert.equal(who('x.blog.shop.com'), 'blog', 'the more specific wildcard wins');
    assert.equal(who('blog.example.org'), 'blog');
    assert.equal(who('shop.com'), null, 'a wildcard does not cover its parent');
    assert.equal(who('localhost'), null);
    assert.equal(who('x.shop.localhost'), null);
    assert.equal(who('nothing.example'), null);
  });

  it("an app's own <name>.<domain> beats another app's custom domain of that name", () => {
    const { who } = table([app('a0', 'squatter', { domains: ['shop.localhost'] }), app('a9', 'shop')]);
    assert.equal(who('shop.localhost'), 'shop');
  });

  it('path prefixes: longest first, whole segments, on exact and wildcard hosts', () => {
    const { who } = table([
      app('a1', 'web', { domains: ['example.com', '*.example.com'] }),
      app('a2', 'api', { paths: [{ host: 'example.com', prefix: '/api', owner: 'a1' }, { host: '*.example.com', prefix: '/v2', owner: 'a1' }] }),
      app('a3', 'admin', { paths: [{ host: 'example.com', prefix: '/api/admin', owner: 'a1' }] }),
      app('a4', 'all', { paths: [{ host: 'all.example.net', prefix: '/' }] }),
    ]);
    assert.equal(who('example.com', '/'), 'web');
    assert.equal(who('example.com', '/api'), 'api');
    assert.equal(who('example.com', '/api/users'), 'api');
    assert.equal(who('example.com', '/apix'), 'web');
    assert.equal(who('example.com', '/api/admin/x'), 'admin');
    assert.equal(who('example.com', '/api/adminx'), 'api');
    assert.equal(who('x.example.com', '/v2/a'), 'api');
    assert.equal(who('x.example.com', '/v3'), 'web');
    assert.equal(who('all.example.net', '/anything'), null, 'a path route alone does not make a host known');
  });

  it('H3: a path route applies only while its host belongs to the app it belonged to when made', () => {
    // `evil` routed shop.localhost/ while `shop` (a1) owned it; shop was deleted and a new app of
    // that name (a5) took the name: the route is not the new owner's, so it no longer applies.
    const evilRoute = app('a2', 'evil', { paths: [{ host: 'shop.localhost', prefix: '/', owner: 'a1' }] });
    assert.equal(table([app('a1', 'shop'), evilRoute]).who('shop.localhost', '/x'), 'evil', 'while a1 owns the host');
    assert.equal(table([app('a5', 'shop'), evilRoute]).who('shop.localhost', '/x'), 'shop', 'a new owner is not served by the old route');
    assert.equal(table([evilRoute]).who('shop.localhost', '/x'), null, 'nor is a host nobody owns');
    // A wildcard path route covers only the hosts its owner owns, never other apps' own names.
    const { who } = table([
      app('a1', 'shop'),
      app('a2', 'evil', { domains: ['*.evil.localhost'], paths: [{ host: '*.localhost', prefix: '/', owner: 'a2' }, { host: '*.evil.localhost', prefix: '/', owner: 'a2' }] }),
    ]);
    assert.equal(who('shop.localhost', '/'), 'shop');
    assert.equal(who('x.evil.localhost', '/'), 'evil');
  });

  it('keeps one pool object per service across rebuilds; a match carries the app as published', () => {
    const { t, pools } = table([app('a1', 'shop')]);
    const m1 = t.resolve('shop.localhost', '/')!;
    t.setRoutes([app('a1', 'shop', { maintenance: true })]);
    const m2 = t.resolve('shop.localhost', '/')!;
    assert.equal(m1.pool, m2.pool);
    assert.equal(m2.app.maintenance, true);
    assert.equal(pools.size, 1);
    t.setRoutes([app('a1', 'shop2')]);
    assert.equal(t.resolve('shop.localhost', '/'), null);
    assert.equal(t.resolve('shop2.localhost', '/')!.pool.service, 'shop2-web');
  });

  it('a renamed app is served by its old service until the new one has a backend', () => {
    const { t, pools } = table([app('a1', 'shop')]);
    const b = (id: string) => ({ id, host: '127.0.0.1', port: 1, inflight: 0, ejectedUntil: 0, failures: 0, draining: false });
    pools.get('shop-web')!.backends = [b('old')];
    t.setRoutes([app('a1', 'shop2')]);
    const ids = () => t.resolve('shop2.localhost', '/')!.pool.backends.map((x) => x.id);
    assert.deepEqual(ids(), ['old']);
    assert.deepEqual([...t.services()].sort(), ['shop-web', 'shop2-web']);
    t.setRoutes([app('a1', 'shop2', { maintenance: true })]);
    assert.deepEqual(ids(), ['old'], 'still handing over after another change');
    pools.get('shop2-web')!.backends = [b('new')];
    assert.deepEqual(ids(), ['new']);
    pools.get('shop-web')!.backends = [];
    t.setRoutes([app('a1', 'shop2')]);
    assert.deepEqual([...t.services()], ['shop2-web'], 'the old service is let go once empty');
    // A new app that takes the old name takes its service too: no handover from it.
    const other = table([app('b1', 'cart')]);
    other.pools.get('cart-web')!.backends = [b('cart-1')];
    other.t.setRoutes([app('b1', 'basket'), app('b2', 'cart')]);
    assert.deepEqual(other.t.resolve('basket.localhost', '/')!.pool.backends, []);
    assert.deepEqual(other.t.resolve('cart.localhost', '/')!.pool.backends.map((x) => x.id), ['cart-1']);
  });

  it("L1: serves only the hostname owner's certificate for a name, else the default", () => {
    const dir = mkdtempSync(join(tmpdir(), 'slwt-certs-'));
    try {
      const pem = (name: string) => {
        const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k'), '-out', join(dir, 'c'), '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        return { certPem: readFileSync(join(dir, 'c'), 'utf8'), keyPem: readFileSync(join(dir, 'k'), 'utf8') };
      };
      const certs = new CertStore(silentLogger);
      const rec = (id: string, appId: string, name: string) => ({ id, appId, names: [name], ...pem(name), notAfter: new Date(Date.now() + 86_400_000).toISOString(), fingerprint: id });
      // `evil` (a2) uploads certificates for shop's name and for a name nobody owns
      certs.set([rec('c1', 'a2', 'shop.localhost'), rec('c2', 'a2', 'free.example.org'), rec('c3', 'a1', 'www.shop.com')]);
      const t = new LiveRouteTable('localhost', (s) => ({ service: s, backends: [] }), certs);
      t.setRoutes([app('a1', 'shop', { domains: ['www.shop.com'] }), app('a2', 'evil')]);
      assert.equal(t.secureContext('shop.localhost'), null, "another app's certificate for shop's name: the default instead");
      assert.equal(t.secureContext('free.example.org'), null, 'a name no app owns: the default');
      assert.notEqual(t.secureContext('www.shop.com'), null, "the owner's own certificate is served");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses instance addresses', () => {
    assert.deepEqual(parseAddr('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
    assert.deepEqual(parseAddr('[::1]:8080'), { host: '::1', port: 8080 });
    assert.deepEqual(parseAddr('http://10.1.2.3:81'), { host: '10.1.2.3', port: 81 });
    assert.equal(parseAddr('127.0.0.1'), null);
    assert.equal(parseAddr('host:0'), null);
    assert.equal(parseAddr('host:99999'), null);
  });
});
