// Controller security against a real Redis: 401 on every /v1 route but openapi.json, the role
// matrix (404 for invisible apps, 403 for weak roles, token scope and role caps), no token
// escalation, revocation effective at once, lastUsedAt, the 0600 admin-token file, and no
// token ever in the log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startTestController, type TestController } from '../helpers/controller.ts';
import type { AnyRoute } from '../../layer1/controller/http/route.ts';

let c: TestController;
const secrets: string[] = [];
const remember = (t: string) => (secrets.push(t), t);

before(async () => {
  c = await startTestController();
  remember(c.adminToken);
});
after(() => c?.close());

/** The route's path with real values for its parameters. */
function concrete(r: AnyRoute, values: Record<string, string>): string {
  return `/v1${r.path.replace(/:([a-z]+)/g, (_, k: string) => values[k] ?? k)}`;
}

describe('authentication', () => {
  test('every /v1 route but openapi.json answers 401 without a token, with a bad one and with a malformed header', async () => {
    const app = (await c.request('POST', '/v1/apps', { token: c.adminToken, body: { name: 'auth-app' } })).body;
    const tok = (await c.request('GET', '/v1/tokens', { token: c.adminToken })).body.items[0].id;
    const values = { app: app.name, user: 'admin', id: tok };
    const bad: Record<string, string>[] = [
      {},
      { authorization: 'Bearer slw_' + 'A'.repeat(43) },
      { authorization: `Bearer ${c.adminToken}x` },
      { authorization: `Basic ${Buffer.from(`x:${c.adminToken}`).toString('base64')}` },
      { authorization: 'Bearer' },
      { authorization: c.adminToken },
    ];
    let checked = 0;
    for (const r of c.controller.app.routes) {
      const path = concrete(r, values);
      for (const headers of bad) {
        const res = await c.request(r.method.toUpperCase(), path, { headers, body: r.body ? {} : undefined });
        if (r.access.kind === 'public') {
          assert.equal(res.status, 200, `${r.method} ${path} is public`);
          continue;
        }
        assert.equal(res.status, 401, `${r.method} ${path} with ${JSON.stringify(headers)}: ${res.text}`);
        assert.equal(res.body.error.code, 'unauthorized');
        assert.match(res.headers['www-authenticate'] as string, /^Bearer/);
        checked++;
      }
    }
    assert.ok(checked >= 6 * 15, `checked ${checked}`);
    // The unauthenticated attempts on the app left it alone.
    assert.equal((await c.request('GET', '/v1/apps/auth-app', { token: c.adminToken })).status, 200);
  });

  test('a revoked token fails at once, and lastUsedAt moves at most once a minute', async () => {
    const t = (await c.request('POST', '/v1/tokens', { token: c.adminToken, body: { role: 'view', description: 'short-lived' } })).body;
    remember(t.token);
    assert.equal(t.lastUsedAt, null);
    assert.equal((await c.request('GET', '/v1/apps', { token: t.token })).status, 200);
    const seen = (await c.request('GET', '/v1/tokens', { token: c.adminToken })).body.items.find((x: { id: string }) => x.id === t.id);
    assert.ok(seen.lastUsedAt, 'lastUsedAt is set after a use');
    assert.equal((await c.request('GET', '/v1/apps', { token: t.token })).status, 200);
    const again = (await c.request('GET', '/v1/tokens', { token: c.adminToken })).body.items.find((x: { id: string }) => x.id === t.id);
    assert.equal(again.lastUsedAt, seen.lastUsedAt, 'not rewritten within the minute');
    assert.equal((await c.request('DELETE', `/v1/tokens/${t.id}`, { token: c.adminToken })).status, 204);
    const res = await c.request('GET', '/v1/apps', { token: t.token });
    assert.equal(res.status, 401);
    assert.equal((await c.request('DELETE', `/v1/tokens/${t.id}`, { token: c.adminToken })).status, 404);
  });

  test('a token can revoke itself (logout)', async () => {
    const t = remember((await c.request('POST', '/v1/tokens', { token: c.adminToken, body: { role: 'view' } })).body.token);
    const me = (await c.request('GET', '/v1/whoami', { token: t })).body;
    assert.equal(me.user.name, 'admin');
    assert.equal(me.token.role, 'view');
    assert.equal(me.token.token, undefined);
    assert.equal((await c.request('DELETE', `/v1/tokens/${me.token.id}`, { token: t })).status, 204);
    assert.equal((await c.request('GET', '/v1/whoami', { token: t })).status, 401);
  });
});

describe('role matrix', () => {
  const users: Record<string, string> = {};
  before(async () => {
    for (const name of ['m-owner', 'm-deploy', 'm-view', 'm-stranger', 'm-target']) await c.request('POST', '/v1/users', { token: c.adminToken, body: { name } });
    for (const [name, role] of [['m-owner', 'owner'], ['m-deploy', 'deploy'], ['m-view', 'view'], ['m-stranger', 'owner']]) {
      users[role === 'owner' && name === 'm-stranger' ? 'stranger' : role] = remember((await c.request('POST', '/v1/tokens', { token: c.adminToken, body: { user: name, role: 'owner' } })).body.token);
    }
  });

  // A valid request per app route, so only the role decides the outcome.
  const samples: Record<string, { body?: unknown; needs: 'view' | 'deploy' | 'owner'; ok: number }> = {
    'get /apps/:app': { needs: 'view', ok: 200 },
    'patch /apps/:app': { body: { name: 'renamed-x' }, needs: 'owner', ok: 200 },
    'delete /apps/:app': { needs: 'owner', ok: 204 },
    'get /apps/:app/access': { needs: 'view', ok: 200 },
    'get /apps/:app/access/:user': { needs: 'view', ok: 200 },
    'put /apps/:app/access/:user': { body: { role: 'deploy' }, needs: 'owner', ok: 200 },
    'delete /apps/:app/access/:user': { needs: 'owner', ok: 204 },
    // The router's routes. A 4xx the handler itself answers (after the role check) counts as
    // getting through: an unparsable certificate 422, an unknown id 404 not_found.
    'get /apps/:app/maintenance': { needs: 'view', ok: 200 },
    'put /apps/:app/maintenance': { needs: 'deploy', ok: 200 },
    'delete /apps/:app/maintenance': { needs: 'deploy', ok: 204 },
    'get /apps/:app/certs': { needs: 'view', ok: 200 },
    'post /apps/:app/certs': { body: { cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }, needs: 'owner', ok: 422 },
    'delete /apps/:app/certs/:id': { needs: 'owner', ok: 404 },
    'get /apps/:app/routes': { needs: 'view', ok: 200 },
    'post /apps/:app/routes': { body: { host: 'nobody-has-this.example.com', path: '/api' }, needs: 'owner', ok: 422 },
    'delete /apps/:app/routes/:id': { needs: 'owner', ok: 404 },
    'get /apps/:app/settings': { needs: 'view', ok: 200 },
    'patch /apps/:app/settings': { body: { httpsRedirect: true }, needs: 'owner', ok: 200 },
    // Logs: reading is view; retention and drains (which send the log elsewhere) are owner.
    'get /apps/:app/logs': { needs: 'view', ok: 200 },
    'get /apps/:app/log-settings': { needs: 'view', ok: 200 },
    'patch /apps/:app/log-settings': { body: { maxLines: 1000 }, needs: 'owner', ok: 200 },
    'get /apps/:app/drains': { needs: 'owner', ok: 200 },
    'post /apps/:app/drains': { body: { url: 'ftp://not-a-drain' }, needs: 'owner', ok: 422 },
    'delete /apps/:app/drains/:id': { needs: 'owner', ok: 404 },
    'get /apps/:app/metrics': { needs: 'view', ok: 200 },
  };
  const rank = { view: 1, deploy: 2, owner: 3 } as const;

  test('every app route: 404 for a stranger, 403 below its role, success at or above', async () => {
    let n = 0;
    for (const r of c.controller.app.routes.filter((x) => x.access.kind === 'app')) {
      const key = `${r.method} ${r.path}`;
      const s = samples[key];
      assert.ok(s, `no sample request for ${key}: add one`);
      assert.equal((r.access as { role: string }).role, s.needs, key);
      for (const who of ['stranger', 'view', 'deploy', 'owner'] as const) {
        const name = `mx-${n++}`;
        assert.equal((await c.request('POST', '/v1/apps', { token: c.adminToken, body: { name } })).status, 201);
        await c.request('PUT', `/v1/apps/${name}/access/m-target`, { token: c.adminToken, body: { role: 'view' } });
        if (who !== 'stranger') await c.request('PUT', `/v1/apps/${name}/access/m-${who}`, { token: c.adminToken, body: { role: who } });
        const res = await c.request(r.method.toUpperCase(), concrete(r, { app: name, user: 'm-target', id: 'x_000000000deadbeef' }), { token: users[who], body: s.body });
        const want = who === 'stranger' ? 404 : rank[who] >= rank[s.needs] ? s.ok : 403;
        assert.equal(res.status, want, `${who} on ${key}: ${res.text}`);
        if (who === 'stranger') assert.equal(res.body.error.code, 'app_not_found');
        if (want === 403) assert.match(res.body.error.message, new RegExp(`needs the ${s.needs} role`));
      }
    }
  });

  test('a token never exceeds its role or its app, even for an owner or the admin', async () => {
    await c.request('POST', '/v1/apps', { token: c.adminToken, body: { name: 'cap-a' } });
    await c.request('POST', '/v1/apps', { token: c.adminToken, body: { name: 'cap-b' } });
    for (const a of ['cap-a', 'cap-b']) await c.request('PUT', `/v1/apps/${a}/access/m-owner`, { token: c.adminToken, body: { role: 'owner' } });
    const viewAll = remember((await c.request('POST', '/v1/tokens', { token: c.adminToken, body: { user: 'm-owner', role: 'view' } })).body.token);
    assert.equal((await c.request('GET', '/v1/apps/cap-a', { token: viewAll })).status, 200);
    assert.equal((await c.request('PATCH', '/v1/apps/cap-a', { token: viewAll, body: { name: 'cap-z' } })).status, 403);
    const onlyA = remember((await c.request('POST', '/v1/tokens', { token: c.adminToken, body: { user: 'm-owner', role: 'owner', app: 'cap-a' } })).body.token);
    assert.equal((await c.request('GET', '/v1/apps/cap-a', { token: onlyA })).status, 200);
    assert.equal((await c.request('GET', '/v1/apps/cap-b', { token: onlyA })).status, 404);
    assert.deepEqual((await c.request('GET', '/v1/apps', { token: onlyA })).body.items.map((a: { name: string }) => a.name), ['cap-a']);
    assert.equal((await c.request('POST', '/v1/apps', { token: onlyA, body: {} })).status, 403, 'an app token makes no apps');
    const adminDeploy = remember((await c.request('POST', '/v1/tokens', { token: c.adminToken, body: { role: 'deploy' } })).body.token);
    assert.equal((await c.request('GET', '/v1/apps/cap-b', { token: adminDeploy })).status, 200);
    assert.equal((await c.request('DELETE', '/v1/apps/cap-b', { token: adminDeploy })).status, 403);
    assert.equal((await c.request('GET', '/v1/users', { token: adminDeploy })).status, 403);
  });

  test('platform routes: users and audit are the admin’s; apps are made by unscoped owner tokens', async () => {
    for (const [method, path, body] of [['GET', '/v1/users'], ['POST', '/v1/users', { name: 'nope' }], ['GET', '/v1/audit']] as const) {
      const res = await c.request(method, path, { token: users.owner, body });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(res.body.error.code, 'forbidden');
    }
    const made = await c.request('POST', '/v1/apps', { token: users.owner, body: { name: 'owned-by-owner' } });
    assert.equal(made.status, 201);
    assert.equal(made.body.createdBy, 'm-owner');
    assert.equal((await c.request('GET', '/v1/apps/owned-by-owner/access/m-owner', { token: users.owner })).body.role, 'owner');
    assert.equal((await c.request('GET', '/v1/apps/owned-by-owner', { token: users.stranger })).status, 404);
    const viewer = remember((await c.request('POST', '/v1/tokens', { token: c.adminToken, body: { user: 'm-view', role: 'view' } })).body.token);
    assert.equal((await c.request('POST', '/v1/apps', { token: viewer, body: {} })).status, 403);
  });

  test('no escalation through token creation or revocation', async () => {
    const viewer = remember((await c.request('POST', '/v1/tokens', { token: c.adminToken, body: { user: 'm-owner', role: 'view' } })).body.token);
    const cases: [string, unknown, number][] = [
      [viewer, { role: 'owner' }, 403],
      [viewer, { role: 'view', user: 'm-deploy' }, 403],
      [users.owner, { role: 'admin' }, 422],
      [users.owner, { role: 'owner', app: 'owned-by-owner' }, 201],
      [users.owner, { role: 'owner', app: 'cap-b-missing' }, 404],
      [c.adminToken, { role: 'admin', user: 'm-owner' }, 422],
      [c.adminToken, { role: 'view', user: 'no-such-user' }, 404],
    ];
    for (const [token, body, want] of cases) {
      const res = await c.request('POST', '/v1/tokens', { token, body });
      assert.equal(res.status, want, `${JSON.stringify(body)}: ${res.text}`);
      if (res.status === 201) remember(res.body.token);
    }
    const scoped = remember((await c.request('POST', '/v1/tokens', { token: users.owner, body: { role: 'deploy', app: 'owned-by-owner' } })).body.token);
    assert.equal((await c.request('POST', '/v1/tokens', { token: scoped, body: { role: 'view' } })).status, 403, 'an app token makes only tokens of its app');
    assert.equal((await c.request('POST', '/v1/tokens', { token: scoped, body: { role: 'view', app: 'owned-by-owner' } })).status, 201);
    // m-owner's tokens: a view token cannot revoke the owner token; another user's token is not found.
    const mine = (await c.request('GET', '/v1/tokens', { token: users.owner })).body.items as { id: string; role: string; user: string }[];
    assert.ok(mine.every((t) => t.user === 'm-owner'));
    const ownerTok = mine.find((t) => t.role === 'owner')!;
    assert.equal((await c.request('DELETE', `/v1/tokens/${ownerTok.id}`, { token: viewer })).status, 403);
    const adminTok = (await c.request('GET', '/v1/whoami', { token: c.adminToken })).body.token.id;
    assert.equal((await c.request('DELETE', `/v1/tokens/${adminTok}`, { token: users.owner })).status, 404);
  });
});

describe('the admin token', () => {
  test('is written once to $SLIPWAY_HOME/admin-token with mode 0600, and a restart does not remake it', async () => {
    const file = join(c.home, 'admin-token');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').trim(), c.adminToken);
    assert.match(c.adminToken, /^slw_[A-Za-z0-9_-]{43}$/);
    const { startController } = await import('../../layer1/controller/server.ts');
    const { silentLogger } = await import('../../layer0/common/logger.ts');
    const keyPrefix = (c.controller.store.keys.prefix);
    const second = await startController({ redisUrl: c.redis.url, port: 0, keyPrefix, home: c.home, log: silentLogger });
    try {
      assert.equal(second.adminToken, undefined);
      assert.equal(readFileSync(file, 'utf8').trim(), c.adminToken);
      assert.equal((await c.request('GET', '/v1/whoami', { token: c.adminToken })).status, 200);
    } finally {
      await second.close();
    }
  });

  test('no token appears in the log, at debug level, after everything above', async () => {
    await c.request('GET', '/v1/apps', { token: c.adminToken, headers: { 'x-request-id': 'log-check' } });
    const log = c.logs.join('');
    assert.ok(log.includes('log-check'), 'the access log is captured');
    assert.ok(secrets.length >= 10);
    for (const s of secrets) assert.ok(!log.includes(s), 'a token secret reached the log');
    assert.ok(!/slw_[A-Za-z0-9_-]{20}/.test(log), 'something token-shaped reached the log');
    assert.ok(!/authorization/i.test(log), 'an Authorization header reached the log');
  });
});
