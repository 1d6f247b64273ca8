// Table-driven bad input over every /v1 route: malformed JSON, wrong types, unknown fields,
// bodies where none belong, a body over 1 MiB, bad query parameters, bad names and path
// tricks. Every answer is a 4xx `{ error: { code, message } }` with a clear message, never a
// 5xx or a stack trace; the log holds no request failure afterwards.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestController, type Res, type TestController } from '../helpers/controller.ts';
import type { AnyRoute } from '../../layer1/controller/http/route.ts';

let c: TestController;
let values: Record<string, string>;

before(async () => {
  c = await startTestController();
  await c.request('POST', '/v1/apps', { token: c.adminToken, body: { name: 'good-app' } });
  await c.user('good-user', { app: 'good-app', grant: 'view' });
  const tok = (await c.request('GET', '/v1/tokens', { token: c.adminToken })).body.items.at(-1).id;
  values = { app: 'good-app', user: 'good-user', id: tok };
});
after(() => c?.close());

const path = (r: AnyRoute, v: Record<string, string>) => `/v1${r.path.replace(/:([a-z]+)/g, (_, k: string) => v[k])}`;

function check(res: Res, want: number | number[], what: string): void {
  const ok = Array.isArray(want) ? want.includes(res.status) : res.status === want;
  assert.ok(ok, `${what}: got ${res.status} ${res.text}, want ${want}`);
  assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status}`);
  assert.equal(typeof res.body?.error?.code, 'string', `${what}: ${res.text}`);
  assert.ok(res.body.error.message.length > 5, `${what}: a clear message: ${res.text}`);
  assert.ok(!/\bat .*\.(ts|js):\d+/.test(res.text) && !res.text.includes('stack'), `${what}: no stack trace`);
}

const BIG = Buffer.alloc(1024 * 1024 + 1, 0x20);

test('bodies: malformed JSON 400, wrong shapes 422 naming the field, unknown fields 422, over 1 MiB 413', async () => {
  for (const r of c.controller.app.routes) {
    const p = path(r, values);
    const m = r.method.toUpperCase();
    const token = c.adminToken;
    for (const raw of ['{bad', '{"a":', 'nul', '\u0000', '{"name":"x"}}']) check(await c.request(m, p, { token, body: raw }), 400, `${m} ${p} ${JSON.stringify(raw)}`);
    check(await c.request(m, p, { token, body: BIG }), 413, `${m} ${p} 1 MiB + 1`);
    check(await c.request(m, p, { token, body: BIG, chunked: true }), 413, `${m} ${p} 1 MiB + 1, chunked`);
    if (!r.body) {
      const res = await c.request(m, p, { token, body: { x: 1 } });
      check(res, 422, `${m} ${p} a body where none belongs`);
      assert.match(res.body.error.message, /takes no body/);
      continue;
    }
    for (const body of [[], 'a string', 42, null, true]) {
      const res = await c.request(m, p, { token, body: JSON.stringify(body) });
      check(res, 422, `${m} ${p} body ${JSON.stringify(body)}`);
      assert.equal(res.body.error.code, 'invalid_params');
      assert.match(res.body.error.message, /^body/);
    }
    const unknown = await c.request(m, p, { token, body: { definitelyUnknown: 1 } });
    check(unknown, 422, `${m} ${p} unknown field`);
    assert.match(unknown.body.error.message, /unknown field "definitelyUnknown"/);
  }
});

test('fields: wrong types and bad names are 422 and name the field', async () => {
  const cases: [string, string, unknown, RegExp][] = [
    ['POST', '/v1/apps', { name: 5 }, /body\.name: .*expected string/],
    ['POST', '/v1/apps', { name: 'Upper' }, /body\.name: must be 3-30/],
    ['POST', '/v1/apps', { name: 'ab' }, /body\.name/],
    ['POST', '/v1/apps', { name: 'a'.repeat(31) }, /body\.name/],
    ['POST', '/v1/apps', { name: '1abc' }, /body\.name/],
    ['POST', '/v1/apps', { name: 'ab_c' }, /body\.name/],
    ['POST', '/v1/apps', { name: 'abc\n' }, /body\.name/],
    ['POST', '/v1/apps', { name: '../etc' }, /body\.name/],
    ['PATCH', '/v1/apps/good-app', { name: null }, /body\.name/],
    ['POST', '/v1/users', {}, /body\.name: is required/],
    ['POST', '/v1/users', { name: 'ok-name', admin: 'yes' }, /body\.admin/],
    ['POST', '/v1/users', { name: '.hidden' }, /body\.name/],
    ['POST', '/v1/tokens', { role: 'root' }, /body\.role/],
    ['POST', '/v1/tokens', { role: 'view', app: 'No' }, /body\.app/],
    ['POST', '/v1/tokens', { description: 'x'.repeat(201) }, /body\.description/],
    ['PUT', '/v1/apps/good-app/access/good-user', { role: 'admin' }, /body\.role/],
    ['PUT', '/v1/apps/good-app/access/good-user', {}, /body\.role: is required/],
  ];
  for (const [m, p, body, msg] of cases) {
    const res = await c.request(m, p, { token: c.adminToken, body });
    check(res, 422, `${m} ${p} ${JSON.stringify(body)}`);
    assert.equal(res.body.error.code, 'invalid_params');
    assert.match(res.body.error.message, msg);
  }
});

test('query: bad limits, bad cursors and unknown parameters are 422 on every route', async () => {
  for (const r of c.controller.app.routes) {
    const p = path(r, values);
    const m = r.method.toUpperCase();
    const body = r.body ? {} : undefined;
    check(await c.request(m, `${p}?nonsense=1`, { token: c.adminToken, body }), 422, `${m} ${p}?nonsense`);
    if (!r.query) continue;
    // Lists take limit and after; other routes with a query (logs, metrics) are checked on what they take.
    const keys = Object.keys((r.query as unknown as { shape?: object }).shape ?? {});
    const qs = ['limit=abc', 'limit=0', 'limit=-1', 'limit=1.5', 'limit=100000', `after=${'x'.repeat(300)}`, 'limit=1&limit=2']
      .filter((q) => keys.includes(q.split('=')[0]!));
    for (const q of qs) {
      const res = await c.request(m, `${p}?${q}`, { token: c.adminToken, body });
      check(res, 422, `${m} ${p}?${q}`);
      assert.match(res.body.error.message, /^query\./);
    }
  }
  check(await c.request('GET', '/v1/audit?after=not-an-id', { token: c.adminToken }), 422, 'audit cursor');
});

test('path tricks and bad names in every parameter are 4xx, never 5xx', async () => {
  const tricks = ['..%2f..', '..', '%2e%2e', '%2e%2e%2f%2e%2e%2fetc', '..%5c..', '%00', 'a%00b', '%zz', '%', 'UPPER', 'a', 'x'.repeat(300), '%F0%9F%92%A9', 'a%20b', 'good-app%0d%0aX-Injected:%201', '*', '$%7Bjndi%7D', 'good-app.json'];
  for (const r of c.controller.app.routes.filter((x) => x.path.includes(':'))) {
    for (const param of r.path.match(/:([a-z]+)/g)!.map((s) => s.slice(1))) {
      for (const t of tricks) {
        const p = path(r, { ...values, [param]: t });
        const res = await c.request(r.method.toUpperCase(), p, { token: c.adminToken, body: r.body ? (r.method === 'put' ? { role: 'view' } : {}) : undefined });
        check(res, [400, 404, 422], `${r.method} ${p}`);
        assert.equal(res.headers['x-injected'], undefined);
      }
    }
  }
  for (const raw of ['/v1/apps/../users', '/v1/apps/good-app/../../users', '/v1//apps', '/v1/apps/good-app/', '/v1/apps/good-app/access/', '/v1/./apps', '/v1/%2e%2e/v1/users', '/v1/apps/good-app/nothing']) {
    const res = await c.request('GET', raw, { token: c.adminToken });
    assert.ok(res.status < 500, `${raw}: ${res.status}`);
    if (res.status >= 400) check(res, [400, 404, 422], raw);
  }
  const wrong = await c.request('PUT', '/v1/apps', { token: c.adminToken, body: {} });
  check(wrong, 405, 'a method the route does not have');
  assert.equal(wrong.headers['allow'], 'HEAD, GET, POST');
});

test('headers: odd content types and encodings do not produce a 5xx', async () => {
  const body = JSON.stringify({ name: 'typed-app' });
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', '']) {
    const res = await c.request('POST', '/v1/apps', { token: c.adminToken, body, headers: { 'content-type': ct } });
    assert.ok(res.status === 201 || res.status === 409 || (res.status >= 400 && res.status < 500), `${ct}: ${res.status}`);
  }
  check(await c.request('POST', '/v1/apps', { token: c.adminToken, body: '{}', headers: { 'content-encoding': 'gzip' } }), 400, 'gzip claimed, not sent');
  check(await c.request('POST', '/v1/apps', { token: c.adminToken, body: '{}', headers: { 'content-encoding': 'gzip' } }), 400, 'gzip claimed, not sent');
});

test('the log has no failed request after all of it', () => {
  const failures = c.logs.filter((l) => /"msg":"request failed"/.test(l) || /"status":5\d\d/.test(l));
  assert.deepEqual(failures, []);
});
