// The web dashboard in Debian's Chromium against a whole in-process platform (Redis, two agents
// running busybox, the scheduler, the controller with the dashboard, a log shipper per host):
// log in, create an app, see its processes after a release, scale web 1 → 3, set a config var,
// roll back, watch log lines arrive live, log out; a view user sees no controls and is refused
// anyway; cross-site and token-less posts are refused; no page holds a token. Screenshots of
// every page at desktop and phone width go to test/browser/screenshots/ (gitignored).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, get as httpGet, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { connectAgent } from '../../layer0/agent/index.ts';
import { silentLogger } from '../../layer0/common/logger.ts';
import { startShipper, type Shipper } from '../../layer1/logs/shipper.ts';
import { startRouter, type RunningRouter } from '../../layer1/router/server.ts';
import { httpGet as routerGet } from '../helpers/http.ts';
import { startBrowser, type TestBrowser } from '../helpers/browser.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { until } from '../helpers/wait.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
// A web process that serves / and writes a line every second (for the live log).
const WEB = "sh -c 'while true; do echo tick $(date +%s); sleep 1; done & exec httpd -f -p $PORT -h /'";

let p: TestPlatform;
let b: TestBrowser;
let base = '';
let viewToken = '';
const shippers: Shipper[] = [];
let evil: Server | undefined;
let router: RunningRouter | undefined;
const routerHome = mkdtempSync(join(tmpdir(), `${process.env.SLIPWAY_TEST_PREFIX ?? 'slwt'}-dash-router-`));

const api = (method: string, path: string, body?: unknown, token = p.adminToken) => p.request(method, `/v1${path}`, { token, ...(body === undefined ? {} : { body }) });

/** A page as a phone or a laptop shows it: overlay scrollbars (headless Chromium's take 15 px of the width). */
async function newPage(ctx: BrowserContext): Promise<Page> {
  const page = await ctx.newPage();
  await (await ctx.newCDPSession(page)).send('Emulation.setScrollbarsHidden', { hidden: true });
  return page;
}

async function session(token: string, viewport = DESKTOP): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await b.browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await newPage(ctx);
  await page.goto(`${base}/login`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${base}/`);
  return { ctx, page };
}

/** The page's HTML holds no API token (admin's or the view user's). */
async function noTokens(page: Page, what: string) {
  const html = await page.content();
  for (const t of [p.adminToken, viewToken].filter(Boolean)) assert.ok(!html.includes(t), `${what}: a token is in the page`);
  assert.ok(!/slw_[A-Za-z0-9_-]{20,}/.test(html.replace(/git:slw_[A-Za-z0-9_-]+@/g, '')), `${what}: something like a token is in the page`);
}

const rows = (page: Page, state?: string) => page.locator(`#processes tbody tr${state ? `[data-state="${state}"]` : ''}`);

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  p = await startTestPlatform({ heartbeatMs: 1000 });
  base = p.url;
  for (const [i, h] of p.hosts.entries()) {
    shippers.push(await startShipper({
      agent: connectAgent({ socketPath: join(h.paths.run, 'agent.sock') }), redisUrl: p.redis.url, keyPrefix: p.controller.store.keys.prefix,
      host: `host${i}`, bridge: i === 0, metricsIntervalMs: 1000, routerMetricsMs: 1000, resyncMs: 1000,
    }));
  }
  // A router whose access records reach the shipper: the app's request numbers.
  router = await startRouter({
    redisUrl: p.redis.url, controllerPrefix: p.controller.store.keys.prefix, discovery: p.discovery,
    httpPort: 0, adminPort: null, httpsPort: null, home: routerHome, log: silentLogger, onAccess: (r) => shippers[0]!.access(r),
  });
  b = await startBrowser();
});

after(async () => {
  await b?.close();
  await new Promise((r) => (evil ? evil.close(r) : r(undefined)));
  await router?.close(500);
  rmSync(routerHome, { recursive: true, force: true });
  for (const s of shippers) await s.close().catch(() => undefined);
  if (p) assert.deepEqual(await p.close(), []);
});

describe('the dashboard', { timeout: 300_000 }, () => {
  let admin: { ctx: BrowserContext; page: Page };

  it('serves /login and static assets to anyone, sends everything else to /login, and leaves /v1 and /healthz as they were', async () => {
    for (const path of ['/', '/apps/new', '/apps/shop', '/apps/shop/config', '/apps/shop/releases', '/apps/shop/deployments', '/apps/shop/logs', '/apps/shop/live/logs', '/apps/shop/live/events', '/nowhere']) {
      const r = await fetch(`${base}${path}`, { redirect: 'manual' });
      assert.equal(r.status, 302, path);
      assert.match(r.headers.get('location') ?? '', /^\/login/, path);
    }
    for (const path of ['/apps', '/apps/shop/scale', '/apps/shop/config', '/apps/shop/rollback', '/logout']) {
      const r = await fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base }, body: 'type=web&count=0' });
      assert.equal(r.status, 302, `POST ${path} without a session`);
      assert.equal(r.headers.get('location'), '/login');
    }
    const login = await fetch(`${base}/login`);
    assert.equal(login.status, 200);
    assert.match(login.headers.get('content-security-policy') ?? '', /default-src 'none'.*script-src 'self'/);
    assert.equal((await fetch(`${base}/static/app.css`)).status, 200);
    assert.equal((await fetch(`${base}/static/app.js`)).status, 200);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const v1 = await fetch(`${base}/v1/apps`);
    assert.equal(v1.status, 401);
    assert.equal(((await v1.json()) as any).error.code, 'unauthorized');
    assert.equal((await fetch(`${base}/v1/nowhere`, { headers: { authorization: `Bearer ${p.adminToken}` } })).status, 404);
  });

  it('logs in with a token into an HttpOnly, SameSite=Strict session cookie; a wrong token is refused', async () => {
    const ctx = await b.browser.newContext({ viewport: DESKTOP });
    const page = await newPage(ctx);
    await page.goto(`${base}/login`);
    await page.screenshot({ path: join(SHOTS, 'login-desktop.png') });
    await page.getByLabel('API token').fill('slw_not-a-real-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('That token is unknown or revoked.').waitFor();
    await page.screenshot({ path: join(SHOTS, 'login-error-desktop.png') });
    await ctx.close();

    admin = await session(p.adminToken);
    const cookies = await admin.ctx.cookies();
    const c = cookies.find((x) => x.name === 'slipway_session');
    assert.ok(c, 'a session cookie');
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.ok(!cookies.some((x) => x.value.includes(p.adminToken)), 'the token is not in a cookie');
    await admin.page.getByRole('heading', { name: 'No apps yet' }).waitFor();
    await noTokens(admin.page, 'apps (empty)');
    await admin.page.screenshot({ path: join(SHOTS, 'apps-empty-desktop.png'), fullPage: true });
  });

  it('creates an app and shows the git remote to push to; a deploy token only when asked, once', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Create your first app' }).click();
    await page.getByLabel('Name').fill('Bad Name');
    // The browser's own pattern check stops it: no form is sent (a post within 2 s would be seen).
    const posted = page.waitForRequest((r) => r.method() === 'POST', { timeout: 2000 }).then(() => true, () => false);
    await page.getByRole('button', { name: 'Create app' }).click();
    assert.equal(await posted, false, 'the browser sent a name its pattern refuses');
    assert.equal(await page.getByLabel('Name').evaluate((e) => (e as HTMLInputElement).validity.patternMismatch), true);
    assert.equal(page.url(), `${base}/apps/new`);
    // The server checks too: sent without the browser's check, the name is refused (422).
    await page.locator('form[action="/apps"]').evaluate((f) => { (f as HTMLFormElement).noValidate = true; });
    const [refused] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${base}/apps` && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Create app' }).click(),
    ]);
    assert.equal(refused.status(), 422);
    await page.getByText('App names are 3–30 characters').waitFor();
    await page.getByLabel('Name').fill('shop');
    await page.getByRole('button', { name: 'Create app' }).click();
    await page.waitForURL(`${base}/apps/shop`);
    await page.getByText('Created shop.').waitFor();
    const remote = await page.locator('pre.cmd').first().textContent();
    assert.match(remote ?? '', /git remote add slipway http:\/\/git:<token>@127\.0\.0\.1:\d+\/git\/shop\.git/);
    await page.getByText('No processes are running.').waitFor();
    await noTokens(page, 'app (new)');
    assert.equal((await api('GET', '/apps/shop')).status, 200);

    await page.getByRole('button', { name: 'Create a deploy token' }).click();
    const cmd = (await page.locator('#remote-cmd').textContent()) ?? '';
    const m = /http:\/\/git:(slw_[A-Za-z0-9_-]+)@127\.0\.0\.1:\d+\/git\/shop\.git/.exec(cmd);
    assert.ok(m, cmd);
    const who = await api('GET', '/whoami', undefined, m[1]);
    assert.equal(who.body.token.role, 'deploy');
    assert.equal(who.body.token.app, 'shop');
    await page.goto(`${base}/apps/shop`);
    assert.ok(!(await page.content()).includes(m[1]), 'shown once: not on the app page afterwards');
  });

  it("shows an app's processes after a release, then scales web 1 → 3 and sees 3 running", async () => {
    const { page } = admin;
    const rel = await api('POST', '/apps/shop/releases?wait=true', { image: 'bb:1', imageUrl: p.imageUrl, procfile: { web: WEB } });
    assert.equal(rel.status, 201, rel.text);
    assert.equal(rel.body.deployment.state, 'succeeded', rel.text);
    // The page follows the app's events and swaps its processes in without a reload.
    await until('1 running process on the page', async () => (await rows(page, 'running').count()) === 1, 30_000, 200);
    await page.locator('#app-state').getByText('running').waitFor();
    assert.match((await rows(page).first().textContent()) ?? '', /web\.1/);

    await page.reload();
    await page.getByLabel('web processes').fill('3');
    await page.getByRole('button', { name: 'Scale' }).click();
    await page.getByText('Scaling web to 3.').waitFor();
    await until('3 running processes on the page', async () => (await rows(page, 'running').count()) === 3 && (await rows(page).count()) === 3, 60_000, 250);
    const ps = (await api('GET', '/apps/shop/processes')).body.items as any[];
    assert.equal(ps.filter((x) => x.type === 'web' && x.state === 'running').length, 3);
    // Requests through the router, and metrics from the shipper every second: CPU and memory
    // sparklines per process, the app's request count.
    // (busybox httpd serves / with no index: its own 404, counted for the app like any answer.)
    for (let i = 0; i < 20; i++) assert.ok((await routerGet(router!.http.port, '/', { host: 'shop.localhost' })).status < 500);
    await until('sparklines and requests', async () => {
      await page.reload();
      return (await page.locator('#processes svg.spark').count()) >= 6 && /Requests, last 15 minutes: [1-9]/.test((await page.locator('.traffic').textContent()) ?? '');
    }, 30_000, 1500);
    await page.screenshot({ path: join(SHOTS, 'app-desktop.png'), fullPage: true });
  });

  it('sets a config var (a new release), hidden until revealed', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Config' }).click();
    await page.getByText('No config vars.').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('GREETING');
    await page.getByLabel('Value', { exact: true }).fill('hello from the dashboard');
    await page.getByRole('button', { name: 'Set', exact: true }).click();
    await page.getByText(/Set GREETING: release v2 is rolling out/).waitFor();
    const row = page.locator('#var-GREETING');
    assert.ok(!(await row.textContent())?.includes('hello from the dashboard'), 'hidden');
    await row.getByRole('link', { name: /Reveal/ }).click();
    await page.locator('#var-GREETING code.value').getByText('hello from the dashboard').waitFor();
    assert.equal((await api('GET', '/apps/shop/config')).body.GREETING, 'hello from the dashboard');
    await until('v2 deployed', async () => (await api('GET', '/apps/shop/releases/2')).body.status === 'deployed', 60_000, 250);
  });

  it('rolls back to v1 (a new release with v1\'s config)', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Releases' }).click();
    await page.getByRole('button', { name: 'Roll back to v1' }).click();
    await page.getByText(/Rolling back to v1 as release v3/).waitFor();
    await until('v3 deployed', async () => (await api('GET', '/apps/shop/releases/3')).body.status === 'deployed', 60_000, 250);
    assert.equal((await api('GET', '/apps/shop/config')).body.GREETING, undefined);
    // The releases table follows the rollout by itself.
    await until('v3 current on the page', async () => /v3\s*current/.test((await page.locator('tbody tr').first().textContent()) ?? ''), 20_000, 250);
  });

  it('watches log lines arrive live, with filters', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Logs' }).click();
    await page.locator('#live-state.live').waitFor({ timeout: 15_000 });
    // Lines added by the page's script after it loaded (not the server-rendered tail).
    const line = await page.locator('li.log-line.fresh', { hasText: /tick \d+/ }).first().textContent({ timeout: 20_000 });
    assert.match(line ?? '', /web\.\d tick \d+/);
    // A platform event arrives on the same stream: a restart is announced.
    await api('POST', '/apps/shop/processes/restart', { type: 'web' });
    await page.locator('li.log-line.fresh.stream-event').first().waitFor({ timeout: 20_000 });
    // The stderr filter shows no stdout lines.
    await page.getByLabel('Stream').selectOption('stderr');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/stream=stderr/);
    assert.equal(await page.locator('li.log-line', { hasText: /tick \d+/ }).count(), 0);
  });

  it('refuses cross-site posts and posts without the form token', async () => {
    const { page } = admin;
    await page.goto(`${base}/apps/shop`);
    const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      page.evaluate(async ([u, b, h]) => {
        const r = await fetch(u as string, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(h as Record<string, string>) }, body: b as string, redirect: 'manual' });
        return { status: r.status, text: await r.text() };
      }, [`${base}${path}`, body, headers] as const);
    const before = (await api('GET', '/apps/shop/formation')).body.web.count;
    for (const body of ['type=web&count=0', 'type=web&count=0&_csrf=wrong', `type=web&count=0&_csrf=${csrf.slice(0, -2)}xx`]) {
      const r = await post('/apps/shop/scale', body);
      assert.equal(r.status, 403, body);
      assert.match(r.text, /expired/);
    }
    // A page on another origin (another port of 127.0.0.1: same site, so the cookie goes along) posts a form.
    evil = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form id="f" method="post" action="${base}/apps/shop/scale"><input name="type" value="web"><input name="count" value="0"><input name="_csrf" value="${csrf}"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => evil!.listen(0, '127.0.0.1', () => r()));
    const evilPage = await admin.ctx.newPage();
    const answer = evilPage.waitForResponse((r) => r.url() === `${base}/apps/shop/scale`);
    await evilPage.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
    const res = await answer;
    assert.equal(res.status(), 403);
    await evilPage.getByText('Refused: another site sent this form').waitFor();
    await evilPage.close();
    assert.equal((await api('GET', '/apps/shop/formation')).body.web.count, before, 'nothing changed');
  });

  it('works without JavaScript: forms post and redirect back with their message', async () => {
    const ctx = await b.browser.newContext({ viewport: DESKTOP, javaScriptEnabled: false });
    const page = await newPage(ctx);
    await page.goto(`${base}/apps/shop/domains`);
    await page.waitForURL(/\/login\?next=%2Fapps%2Fshop%2Fdomains/);
    await page.getByLabel('API token').fill(p.adminToken);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${base}/apps/shop/domains`);
    await page.getByLabel('Domain', { exact: true }).fill('nojs.example.com');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByText('Added nojs.example.com.').waitFor();
    await page.getByRole('button', { name: 'Remove nojs.example.com' }).click();
    await page.getByText('Removed nojs.example.com.').waitFor();
    assert.deepEqual((await api('GET', '/apps/shop/domains')).body.items, []);
    await ctx.close();
  });

  it('shows a view user no scale, config or rollback controls, and refuses them anyway (403 page)', async () => {
    viewToken = await p.user('viewer', { app: 'shop', grant: 'view' });
    const viewer = await session(viewToken);
    const { page } = viewer;
    await page.getByRole('link', { name: 'shop' }).click();
    await page.getByText('your role: view').waitFor();
    assert.equal(await page.locator('form[action$="/scale"]').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Restart all' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Create a deploy token' }).count(), 0);
    assert.equal(await page.locator('form[action$="/delete"]').count(), 0);
    await page.getByRole('link', { name: 'Config' }).click();
    assert.equal(await page.locator('form[method="post"][action*="/config"]').count(), 0);
    await page.getByRole('link', { name: 'Releases' }).click();
    assert.equal(await page.getByRole('button', { name: /Roll back/ }).count(), 0);
    await page.getByRole('link', { name: 'Domains' }).click();
    assert.equal(await page.locator('form[action*="/domains"]').count(), 0);
    await noTokens(page, 'view user pages');

    const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
    for (const [path, body] of [['/apps/shop/scale', 'type=web&count=1'], ['/apps/shop/config', 'name=EVIL&value=1'], ['/apps/shop/rollback', 'version=1'], ['/apps/shop/deploy-token', '']] as const) {
      const r = await page.evaluate(async ([u, b]) => {
        const res = await fetch(u as string, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: b as string, redirect: 'manual' });
        return { status: res.status, text: await res.text() };
      }, [`${base}${path}`, `${body}&_csrf=${encodeURIComponent(csrf)}`] as const);
      assert.equal(r.status, 403, path);
      assert.match(r.text, /Not allowed/, path);
    }
    // The same refusal as a page, from a form the browser submits.
    await page.evaluate(([u, c]) => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = u as string;
      for (const [k, v] of [['_csrf', c], ['type', 'web'], ['count', '1']]) {
        const i = document.createElement('input');
        i.name = k as string;
        i.value = v as string;
        f.append(i);
      }
      document.body.append(f);
      f.submit();
    }, [`${base}/apps/shop/scale`, csrf] as const);
    await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'forbidden-desktop.png'), fullPage: true });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: join(SHOTS, 'forbidden-phone.png'), fullPage: true });
    assert.equal((await api('GET', '/apps/shop/formation')).body.web.count, 3);
    assert.equal((await api('GET', '/apps/shop/config')).body.EVIL, undefined);
    await viewer.ctx.close();
  });

  it('has a screenshot of every page at desktop and phone width, none holding a token', async () => {
    const shotEmpty = async () => {
      for (const [viewport, tag] of [[DESKTOP, 'desktop'], [PHONE, 'phone']] as const) {
        const { ctx, page } = await session(p.adminToken, viewport);
        await page.goto(`${base}/apps/blog`);
        await page.getByRole('heading', { name: 'Deploy your code' }).waitFor();
        await page.screenshot({ path: join(SHOTS, `app-new-${tag}.png`), fullPage: true });
        await ctx.close();
      }
    };
    const dep = (await api('GET', '/apps/shop/deployments?limit=1')).body.items[0].id;
    await api('PATCH', '/apps/shop/config', { DATABASE_URL: 'postgres://db.internal/shop', FEATURE_X: 'on' });
    assert.equal((await api('POST', '/apps/shop/domains', { domain: 'shop.example.com' })).status, 201);
    assert.equal((await api('POST', '/apps', { name: 'blog' })).status, 201);
    await shotEmpty();
    // A release whose process crashes: its rollout fails, and its page says why.
    const crash = await api('POST', '/apps/blog/releases?wait=true', { image: 'bb:1', imageUrl: p.imageUrl, procfile: { web: "sh -c 'echo cannot open the database >&2; exit 3'" } });
    assert.equal(crash.body.deployment?.state, 'failed', crash.text);
    const pages: [string, string][] = [
      ['deployment-failed', `/apps/blog/deployments/${crash.body.deployment.id}`], ['app-failed', '/apps/blog'],
      ['apps', '/'], ['new-app', '/apps/new'], ['app', '/apps/shop'], ['releases', '/apps/shop/releases'],
      ['deployments', '/apps/shop/deployments'], ['deployment', `/apps/shop/deployments/${dep}`], ['config', '/apps/shop/config'],
      ['config-revealed', '/apps/shop/config?reveal=DATABASE_URL'], ['domains', '/apps/shop/domains'], ['logs', '/apps/shop/logs'], ['not-found', '/apps/shop/nothing'],
    ];
    for (const [viewport, tag] of [[DESKTOP, 'desktop'], [PHONE, 'phone']] as const) {
      const { ctx, page } = await session(p.adminToken, viewport);
      for (const [name, path] of pages) {
        await page.goto(`${base}${path}`);
        if (name === 'logs') await page.locator('#live-state.live').waitFor({ timeout: 15_000 });
        await noTokens(page, name);
        // Nothing wider than the screen: no sideways scrolling at phone width.
        const over = await page.evaluate(() => {
          const w = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= w) return null;
          return [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 1).slice(-5).map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`);
        });
        assert.equal(over, null, `${name} at ${tag} width is wider than the screen: ${JSON.stringify(over)}`);
        // Every field has a label; there is one main landmark and one h1.
        const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input:not([type="hidden"]), select, textarea')]
          .filter((e) => !(e as HTMLInputElement).labels?.length && !e.getAttribute('aria-label')).map((e) => e.outerHTML));
        assert.deepEqual(unlabelled, [], `${name}: fields without a label`);
        assert.equal(await page.locator('main').count(), 1);
        assert.equal(await page.locator('h1').count(), 1, `${name}: one h1`);
        await page.screenshot({ path: join(SHOTS, `${name}-${tag}.png`), fullPage: true });
      }
      // The one page that shows a deploy token (in the remote), after the button.
      await page.goto(`${base}/apps/blog`);
      await page.getByRole('button', { name: 'Create a deploy token' }).click();
      await page.locator('#remote-cmd').waitFor();
      await noTokens(page, 'deploy token');
      await page.screenshot({ path: join(SHOTS, `deploy-token-${tag}.png`), fullPage: true });
      await ctx.close();
    }
    const phone = await b.browser.newContext({ viewport: PHONE });
    const lp = await newPage(phone);
    await lp.goto(`${base}/login`);
    await lp.screenshot({ path: join(SHOTS, 'login-phone.png') });
    await phone.close();
  });

  it('logs out: the session ends on the server too', async () => {
    const { ctx, page } = admin;
    await page.goto(`${base}/`);
    const cookie = (await ctx.cookies()).find((c) => c.name === 'slipway_session')!;
    // A live stream of this session, open across the logout.
    const stream = await new Promise<IncomingMessage>((resolve, reject) => {
      httpGet(`${base}/apps/shop/live/events`, { headers: { cookie: `slipway_session=${cookie.value}`, accept: 'text/event-stream' } }, resolve).on('error', reject);
    });
    assert.equal(stream.statusCode, 200);
    stream.resume();
    const ended = new Promise<void>((r) => stream.once('close', () => r()));
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/login\?out=1/);
    await page.getByText('You are logged out.').waitFor();
    assert.equal((await ctx.cookies()).find((c) => c.name === 'slipway_session'), undefined);
    await page.goto(`${base}/apps/shop`);
    await page.waitForURL(/\/login/);
    // The old cookie value is worthless now.
    const r = await fetch(`${base}/`, { redirect: 'manual', headers: { cookie: `slipway_session=${cookie.value}` } });
    assert.equal(r.status, 302);
    await until('the live stream of the ended session closed', () => Promise.race([ended.then(() => true), new Promise<false>((res) => setTimeout(() => res(false), 500))]), 15_000, 0);
    await ctx.close();
    await api('DELETE', '/apps/blog');
  });
});
