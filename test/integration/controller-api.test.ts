// The controller's resources over HTTP against a real Redis: apps (create with and without a
// name, rename keeping access and tokens, delete freeing the name and calling the hook),
// access grants, pagination of every list, the audit log, request ids, health and readiness.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { App, AuditEntry, CreatedToken, Token, User, listOf } from '../../layer1/controller/types.ts';
import type { App as AppT } from '../../layer1/controller/types.ts';

let c: TestController;
const deleted: AppT[] = [];
const renamed: [string, string][] = [];

before(async () => {
  c = await startTestController({
    onAppDeleted: async (app) => void deleted.push(app),
    onAppRenamed: async (app, old) => void renamed.push([old, app.name]),
  });
});
after(() => c?.close());

const admin = () => ({ token: c.adminToken });

describe('apps', () => {
  test('create with a name (201), a taken name is 409, without a name a random readable one', async () => {
    const made = await c.request('POST', '/v1/apps', { ...admin(), body: { name: 'first-app' } });
    assert.equal(made.status, 201);
    App.parse(made.body);
    assert.equal(made.body.name, 'first-app');
    assert.equal(made.body.createdBy, 'admin');
    const again = await c.request('POST', '/v1/apps', { ...admin(), body: { name: 'first-app' } });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'conflict');
    for (const body of [undefined, {}]) {
      const r = await c.request('POST', '/v1/apps', { ...admin(), body });
      assert.equal(r.status, 201);
      assert.match(r.body.name, /^[a-z][a-z0-9-]{2,29}$/);
      assert.match(r.body.name, /^[a-z]+-[a-z]+-\d{4}$/);
    }
  });

  test('rename keeps the id, the access grants and the app tokens; the old name is free', async () => {
    await c.user('ren-dev');
    await c.request('POST', '/v1/apps', { ...admin(), body: { name: 'old-name' } });
    await c.request('PUT', '/v1/apps/old-name/access/ren-dev', { ...admin(), body: { role: 'deploy' } });
    const appToken = (await c.request('POST', '/v1/tokens', { ...admin(), body: { user: 'ren-dev', role: 'deploy', app: 'old-name' } })).body.token;
    const before = (await c.request('GET', '/v1/apps/old-name', admin())).body;
    const r = await c.request('PATCH', '/v1/apps/old-name', { ...admin(), body: { name: 'new-name' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.id, before.id);
    assert.equal(r.body.name, 'new-name');
    assert.deepEqual(renamed.at(-1), ['old-name', 'new-name']);
    assert.equal((await c.request('GET', '/v1/apps/old-name', admin())).status, 404);
    assert.equal((await c.request('GET', '/v1/apps/new-name', { token: appToken })).status, 200);
    assert.equal((await c.request('GET', '/v1/apps/new-name/access/ren-dev', admin())).body.role, 'deploy');
    const toks = (await c.request('GET', '/v1/tokens', admin())).body.items as { app: string | null; user: string }[];
    assert.ok(toks.some((t) => t.user === 'ren-dev' && t.app === 'new-name'));
    assert.equal((await c.request('PATCH', '/v1/apps/new-name', { ...admin(), body: { name: 'first-app' } })).status, 409);
    assert.equal((await c.request('PATCH', '/v1/apps/new-name', { ...admin(), body: {} })).body.name, 'new-name');
    assert.equal((await c.request('POST', '/v1/apps', { ...admin(), body: { name: 'old-name' } })).status, 201, 'the old name is free');
  });

  test('delete calls the hook, removes records, grants and app tokens; the name can be reused', async () => {
    await c.user('del-dev');
    const app = (await c.request('POST', '/v1/apps', { ...admin(), body: { name: 'doomed' } })).body;
    await c.request('PUT', '/v1/apps/doomed/access/del-dev', { ...admin(), body: { role: 'view' } });
    const appToken = (await c.request('POST', '/v1/tokens', { ...admin(), body: { user: 'del-dev', role: 'view', app: 'doomed' } })).body.token;
    await c.controller.redis.set(`${c.controller.store.keys.appPrefix(app.id)}releases`, 'x'); // as deploy/ would
    assert.equal((await c.request('DELETE', '/v1/apps/doomed', admin())).status, 204);
    assert.equal(deleted.at(-1)?.id, app.id);
    assert.equal((await c.request('GET', '/v1/apps/doomed', admin())).status, 404);
    assert.equal((await c.request('GET', '/v1/apps', { token: appToken })).status, 401, 'tokens of a deleted app die with it');
    const keys = await c.controller.redis.keys(`${c.controller.store.keys.prefix}*${app.id}*`);
    assert.deepEqual(keys, []);
    assert.deepEqual(await c.controller.redis.hgetall(c.controller.store.keys.userApps((await c.controller.store.users.byName('del-dev'))!.id)), {});
    const again = await c.request('POST', '/v1/apps', { ...admin(), body: { name: 'doomed' } });
    assert.equal(again.status, 201);
    assert.notEqual(again.body.id, app.id);
  });
});

describe('access', () => {
  test('grant, change, list, remove; an app keeps one owner', async () => {
    await c.user('acc-a');
    await c.request('POST', '/v1/apps', { ...admin(), body: { name: 'acc-app' } });
    assert.equal((await c.request('GET', '/v1/apps/acc-app/access/acc-a', admin())).status, 404);
    assert.equal((await c.request('PUT', '/v1/apps/acc-app/access/nobody-here', { ...admin(), body: { role: 'view' } })).status, 404);
    assert.deepEqual((await c.request('PUT', '/v1/apps/acc-app/access/acc-a', { ...admin(), body: { role: 'view' } })).body, { app: 'acc-app', user: 'acc-a', role: 'view' });
    assert.equal((await c.request('PUT', '/v1/apps/acc-app/access/acc-a', { ...admin(), body: { role: 'owner' } })).body.role, 'owner');
    const list = (await c.request('GET', '/v1/apps/acc-app/access', admin())).body;
    assert.deepEqual(list, { items: [{ app: 'acc-app', user: 'acc-a', role: 'owner' }, { app: 'acc-app', user: 'admin', role: 'owner' }], next: null });
    assert.equal((await c.request('DELETE', '/v1/apps/acc-app/access/admin', admin())).status, 204);
    const last = await c.request('DELETE', '/v1/apps/acc-app/access/acc-a', admin());
    assert.equal(last.status, 409);
    assert.match(last.body.error.message, /one owner/);
    assert.equal((await c.request('PUT', '/v1/apps/acc-app/access/acc-a', { ...admin(), body: { role: 'view' } })).status, 409);
    assert.equal((await c.request('DELETE', '/v1/apps/acc-app/access/admin', admin())).status, 404);
  });
});

describe('pagination', () => {
  async function pages(path: string, limit: number): Promise<{ all: unknown[]; count: number }> {
    const all: unknown[] = [];
    let after: string | null = null;
    let count = 0;
    do {
      const q: string = `limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
      const r = await c.request('GET', `${path}?${q}`, admin());
      assert.equal(r.status, 200, r.text);
      assert.ok(r.body.items.length <= limit);
      all.push(...r.body.items);
      after = r.body.next;
      count++;
    } while (after);
    return { all, count };
  }

  test('apps, users and tokens page through everything once, in order', async () => {
    for (let i = 0; i < 12; i++) await c.request('POST', '/v1/apps', { ...admin(), body: { name: `page-${String(i).padStart(2, '0')}` } });
    for (let i = 0; i < 7; i++) await c.user(`page-user-${i}`);
    const full = (await c.request('GET', '/v1/apps?limit=500', admin())).body.items.map((a: { name: string }) => a.name);
    const paged = await pages('/v1/apps', 5);
    assert.deepEqual(paged.all.map((a) => (a as { name: string }).name), full);
    assert.deepEqual([...full].sort(), full);
    assert.equal(paged.count, Math.ceil(full.length / 5));
    listOf(App).parse((await c.request('GET', '/v1/apps?limit=2', admin())).body);

    const users = await pages('/v1/users', 3);
    listOf(User).parse({ items: users.all, next: null });
    assert.equal(new Set(users.all.map((u) => (u as { name: string }).name)).size, users.all.length);
    assert.ok(users.all.length >= 8);

    const tokens = await pages('/v1/tokens', 4);
    listOf(Token).parse({ items: tokens.all, next: null });
    const ids = tokens.all.map((t) => (t as { id: string }).id);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
  });

  test('a non-admin sees only its apps, paged', async () => {
    const tok = await c.user('pager');
    for (const n of ['pg-c', 'pg-a', 'pg-b']) await c.request('POST', '/v1/apps', { token: tok, body: { name: n } });
    const p1 = (await c.request('GET', '/v1/apps?limit=2', { token: tok })).body;
    assert.deepEqual(p1.items.map((a: { name: string }) => a.name), ['pg-a', 'pg-b']);
    assert.equal(p1.next, 'pg-b');
    const p2 = (await c.request('GET', `/v1/apps?limit=2&after=${p1.next}`, { token: tok })).body;
    assert.deepEqual(p2, { items: [p2.items[0]], next: null });
    assert.equal(p2.items[0].name, 'pg-c');
  });
});

describe('audit', () => {
  test('every mutating call is recorded with who, route, app, status and request id; never a secret', async () => {
    const made = await c.request('POST', '/v1/tokens', { ...admin(), body: { role: 'view', description: 'audit me' }, headers: { 'x-request-id': 'req-audit-1' } });
    CreatedToken.parse(made.body);
    assert.equal(made.headers['x-request-id'], 'req-audit-1');
    await c.request('POST', '/v1/apps', { ...admin(), body: { name: 'audited' }, headers: { 'x-request-id': 'req-audit-2' } });
    await c.request('PATCH', '/v1/apps/audited', { ...admin(), body: { name: 5 }, headers: { 'x-request-id': 'req-audit-3' } });
    await c.request('GET', '/v1/apps/audited', { ...admin(), headers: { 'x-request-id': 'req-audit-read' } });
    const r = await c.request('GET', '/v1/audit?limit=3', admin());
    const items = listOf(AuditEntry).parse(r.body).items;
    assert.deepEqual(items.map((e) => [e.requestId, e.method, e.route, e.app, e.status, e.user]), [
      ['req-audit-3', 'PATCH', '/v1/apps/:app', 'audited', 422, 'admin'],
      ['req-audit-2', 'POST', '/v1/apps', null, 201, 'admin'],
      ['req-audit-1', 'POST', '/v1/tokens', null, 201, 'admin'],
    ]);
    const byApp = (await c.request('GET', '/v1/audit?app=audited', admin())).body.items;
    assert.deepEqual(byApp.map((e: { requestId: string }) => e.requestId), ['req-audit-3']);
    const next = (await c.request('GET', `/v1/audit?limit=2&after=${items[1].id}`, admin())).body.items;
    assert.equal(next[0].requestId, 'req-audit-1');
    const raw = JSON.stringify(await c.controller.redis.xrange(c.controller.store.keys.audit, '-', '+'));
    assert.ok(!raw.includes(made.body.token));
    assert.ok(!raw.includes(c.adminToken));
    assert.ok(!raw.includes('req-audit-read'), 'reads are not audited');
  });

  test('a request id is made when none (or a bad one) is given', async () => {
    const r = await c.request('GET', '/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
    assert.match(r.headers['x-request-id'] as string, /^[0-9a-f-]{36}$/);
  });
});

describe('health', () => {
  test('/healthz is 200; /readyz is 200 while Redis answers and 503 within ~1 s when it does not', async () => {
    assert.equal((await c.request('GET', '/healthz')).status, 200);
    assert.equal((await c.request('GET', '/readyz')).status, 200);
    await c.redis.kill();
    try {
      const t0 = Date.now();
      const r = await c.request('GET', '/readyz');
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, 'unavailable');
      assert.ok(Date.now() - t0 < 3000);
      assert.equal((await c.request('GET', '/healthz')).status, 200);
    } finally {
      await c.redis.restart();
    }
    const end = Date.now() + 10_000;
    while ((await c.request('GET', '/readyz')).status !== 200) {
      assert.ok(Date.now() < end, 'ready again after Redis is back');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await c.request('GET', '/v1/apps/first-app', admin())).status, 200, 'the data survived (appendonly)');
  });
});
