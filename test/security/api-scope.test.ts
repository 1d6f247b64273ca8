// The controller's API as a tenant with one token sees it (issue 13: L3, L8, L4): an app-scoped
// admin token reaches neither users nor the audit log nor other people's tokens; whether a user
// name exists cannot be learned through an app's access routes by anyone but its owner; failed
// logins (API, dashboard, git), dashboard logins and git pushes are in the audit log. A real
// controller with the git receiver and the dashboard, a real git client, a real Redis.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PushPipeline } from '../../layer1/gitreceiver/types.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';

const tag = process.env.SLIPWAY_TEST_PREFIX ?? 'slwt';
const work = mkdtempSync(join(tmpdir(), `${tag}-scope-`));
const pipeline: PushPipeline = {
  async deploy(p) {
    p.archive().resume();
    return { summary: `deployed ${p.sha.slice(0, 7)}` };
  },
};

let c: TestController;
let ownerToken = '';
let scopedAdmin = '';
let viewer = '';
let deployer = '';

const api = (method: string, path: string, token: string | null, body?: unknown) => c.request(method, `/v1${path}`, { token, ...(body === undefined ? {} : { body }) });
const auditLog = async () => (await api('GET', '/audit?limit=200', c.adminToken)).body.items as { event: string; user: string; route: string; path: string; app: string | null; status: number; method: string }[];

before(async () => {
  c = await startTestController({ git: { dir: join(work, 'repos'), hookSocket: join(work, 'hook.sock'), pipeline } });
  assert.equal((await api('POST', '/apps', c.adminToken, { name: 'shop' })).status, 201);
  ownerToken = await c.user('olivia', { app: 'shop', grant: 'owner' });
  viewer = await c.user('victor', { app: 'shop', grant: 'view' });
  deployer = await c.user('dana', { app: 'shop', grant: 'deploy' });
  await c.user('zed'); // exists, no access to shop
  // An admin token limited to one app (what `slipway apps:create` hands CI, by an admin).
  const t = await api('POST', '/tokens', c.adminToken, { role: 'admin', app: 'shop', description: 'ci' });
  assert.equal(t.status, 201, t.text);
  scopedAdmin = t.body.token;
});

after(async () => {
  await c?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('app-scoped admin tokens stay in their app (L3)', () => {
  it('cannot list or create users, read the audit log, or see other people\'s tokens', async () => {
    assert.equal((await api('GET', '/users', scopedAdmin)).status, 403);
    assert.equal((await api('POST', '/users', scopedAdmin, { name: 'mallory', admin: true })).status, 403);
    assert.equal((await api('GET', '/audit', scopedAdmin)).status, 403);
    const tokens = await api('GET', '/tokens', scopedAdmin);
    assert.equal(tokens.status, 200);
    assert.ok(tokens.body.items.every((t: { user: string }) => t.user === 'admin'), 'only its own user\'s tokens');
    assert.equal((await api('POST', '/tokens', scopedAdmin, { user: 'olivia', role: 'owner', app: 'shop' })).status, 403, 'no tokens for other users');
    // still an admin on its own app
    assert.equal((await api('GET', '/apps/shop/access', scopedAdmin)).status, 200);
    // the unscoped admin token keeps its reach
    assert.equal((await api('GET', '/users', c.adminToken)).status, 200);
    assert.equal((await api('GET', '/audit', c.adminToken)).status, 200);
  });
});

describe('user names cannot be enumerated through the access routes (L8)', () => {
  it('a viewer, a deployer and a stranger get one answer for an existing and a missing user', async () => {
    const stranger = await c.user('stan');
    for (const [who, token] of [['viewer', viewer], ['deployer', deployer], ['stranger', stranger], ['a scoped owner', ownerToken]] as const) {
      for (const [method, body] of [['GET', undefined], ['PUT', { role: 'view' }], ['DELETE', undefined]] as const) {
        if (who === 'a scoped owner' && method !== 'GET') continue; // an owner names users to grant them: it may know
        const existing = await api(method, '/apps/shop/access/zed', token, body);
        const missing = await api(method, '/apps/shop/access/nobody-here', token, body);
        assert.equal(existing.status, missing.status, `${who} ${method}: ${existing.text} vs ${missing.text}`);
        assert.equal(existing.body?.error?.code, missing.body?.error?.code, `${who} ${method}`);
        assert.equal(existing.body?.error?.message.replace('zed', 'X'), missing.body?.error?.message.replace('nobody-here', 'X'), `${who} ${method}`);
      }
    }
  });
});

describe('the audit log records logins and pushes (L4)', { timeout: 60_000 }, () => {
  it('a refused API token, a dashboard login and a refused one', async () => {
    assert.equal((await api('GET', '/apps', 'not-a-real-token')).status, 401);
    // the dashboard's login form (its CSRF cookie first)
    const page = await fetch(`${c.url}/login`);
    const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const login = (token: string) => fetch(`${c.url}/login`, {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: c.url },
      body: new URLSearchParams({ _csrf: csrf, token, next: '/' }).toString(),
    });
    assert.equal((await login('wrong-token')).status, 401);
    assert.equal((await login(ownerToken)).status, 303);
    const log = await auditLog();
    const failedApi = log.find((e) => e.event === 'auth_failed' && e.route === '/v1/apps');
    assert.ok(failedApi, JSON.stringify(log.slice(0, 5)));
    assert.equal(failedApi.status, 401);
    assert.ok(log.some((e) => e.event === 'auth_failed' && e.route === '/v1/login' && e.status === 401), 'the failed dashboard login');
    assert.ok(log.some((e) => e.event === 'call' && e.route === '/v1/login' && e.user === 'olivia' && e.status === 200), 'the dashboard login');
    assert.ok(!JSON.stringify(log).includes('wrong-token') && !JSON.stringify(log).includes('not-a-real-token'), 'never the refused token');
  });

  it('a git push and a refused git token', async () => {
    const dir = join(work, 'src');
    execFileSync('git', ['init', '-q', '-b', 'main', dir]);
    writeFileSync(join(dir, 'README'), 'hello\n');
    execFileSync('git', ['-C', dir, 'add', '-A']);
    execFileSync('git', ['-C', dir, '-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-qm', 'init']);
    const push = (token: string) => new Promise<number>((resolve) => {
      const child = spawn('git', ['push', `http://git:${token}@127.0.0.1:${c.port}/git/shop.git`, 'main'], { cwd: dir, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true' }, stdio: 'ignore' });
      child.on('close', (code) => resolve(code ?? -1));
    });
    assert.notEqual(await push('bad-git-token'), 0);
    assert.equal(await push(deployer), 0);
    const log = await auditLog();
    const pushed = log.find((e) => e.event === 'git_push');
    assert.ok(pushed, JSON.stringify(log.slice(0, 5)));
    assert.equal(pushed.user, 'dana');
    assert.equal(pushed.app, 'shop');
    assert.equal(pushed.status, 200);
    assert.ok(log.some((e) => e.event === 'auth_failed' && e.route === '/git/:app.git' && e.app === 'shop' && e.status === 401), 'the refused git token');
  });
});
