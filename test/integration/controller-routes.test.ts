// The deploy routes of /v1 through HTTP, against a whole in-process platform (real Redis, two
// agents running busybox, the scheduler, the controller with its deploy core): a release from an
// image, processes, scale 1 → 3 → 1, config set/unset releases, rollback, restart, stopping one
// process, deployments, domains, Server-Sent Events with Last-Event-ID resume, the role matrix
// of the new routes, bad input, and app rename/delete reaching the processes.
import assert from 'node:assert/strict';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { until } from '../helpers/wait.ts';

const WEB = "sh -c 'httpd -f -p $PORT -h /'";
let p: TestPlatform;
let admin: string;
const tokens: Record<'view' | 'deploy' | 'owner' | 'stranger', string> = { view: '', deploy: '', owner: '', stranger: '' };

interface Sse {
  events: { id: string; event: string; data: any }[];
  status: Promise<number>;
  headers: Promise<Record<string, unknown>>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  until(what: string, pred: (e: Sse['events'][number]) => boolean, ms?: number): Promise<Sse['events'][number]>;
  close(): void;
}

/** Follows an SSE stream, collecting its events. */
function sse(path: string, token: string, headers: Record<string, string> = {}): Sse {
  const events: Sse['events'] = [];
  let req: ClientRequest;
  let resolveHeaders: (h: Record<string, unknown>) => void;
  let resolveEnded: () => void;
  const ended = new Promise<void>((r) => (resolveEnded = r));
  const headersP = new Promise<Record<string, unknown>>((r) => (resolveHeaders = r));
  const status = new Promise<number>((resolve, reject) => {
    req = httpRequest({ host: '127.0.0.1', port: p.port, path, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...headers } }, (res) => {
      resolve(res.statusCode ?? 0);
      resolveHeaders(res.headers);
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const at = line.indexOf(': ');
            if (at > 0) f[line.slice(0, at)] = line.slice(at + 2);
          }
          if (f.data) events.push({ id: f.id!, event: f.event!, data: JSON.parse(f.data) });
        }
      });
      res.on('error', () => undefined);
      res.on('close', () => resolveEnded());
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
  return {
    events,
    status,
    headers: headersP,
    ended,
    until: (what, pred, ms = 20_000) => until(what, () => events.find(pred), ms, 50),
    close: () => req.destroy(),
  };
}

const api = <T = any>(method: string, path: string, token: string, body?: unknown) => p.request<T>(method, `/v1${path}`, { token, body });
const ok = (res: { status: number; text: string }, status: number, what = '') => assert.equal(res.status, status, `${what} ${res.text}`);
const processes = async (app = 'shop') => (await api('GET', `/apps/${app}/processes`, admin)).body.items as any[];
/** Exactly `n` web processes of `release`, running and registered. */
const serving = (n: number, release: string, app = 'shop') =>
  until(`${n} × ${release} of ${app} serving`, async () => {
    const ps = (await processes(app)).filter((x) => x.type === 'web');
    return ps.length === n && ps.every((x) => x.state === 'running' && x.registered && x.release === release) && ps;
  }, 30_000, 200);

before(async () => {
  p = await startTestPlatform({ heartbeatMs: 1000 });
  admin = p.adminToken;
  ok(await api('POST', '/apps', admin, { name: 'shop' }), 201);
  tokens.owner = await p.user('r-owner', { app: 'shop', grant: 'owner' });
  tokens.deploy = await p.user('r-deploy', { app: 'shop', grant: 'deploy' });
  tokens.view = await p.user('r-view', { app: 'shop', grant: 'view' });
  tokens.stranger = await p.user('r-stranger');
});

after(async () => {
  const leaks = await p?.close();
  assert.deepEqual(leaks ?? [], []);
});

describe('controller deploy routes', { timeout: 240_000 }, () => {
  let stream: Sse;
  let all: Sse;
  let v1Deployment = '';

  it('a release from an image rolls out (201, ?wait=true) and its process is listed', async () => {
    stream = sse('/v1/apps/shop/events', tokens.view);
    all = sse('/v1/events', admin);
    assert.equal(await stream.status, 200);
    assert.match(String((await stream.headers)['content-type']), /^text\/event-stream/);
    assert.equal(await all.status, 200);
    const res = await api('POST', '/apps/shop/releases?wait=true', tokens.deploy, { image: 'bb:1', imageUrl: p.imageUrl, procfile: { web: WEB } });
    ok(res, 201);
    assert.equal(res.body.release.version, 1);
    assert.equal(res.body.release.createdBy, 'r-deploy');
    assert.equal(res.body.deployment.state, 'succeeded', JSON.stringify(res.body.deployment));
    v1Deployment = res.body.deployment.id;
    const [proc] = await serving(1, 'v1');
    assert.match(proc.id, /^[a-f0-9]{12,64}$/);
    assert.ok(proc.host && proc.address && proc.startedAt);
    assert.equal(proc.restarts, 0);
    assert.equal(proc.exitCode, null);
    const page = await fetch(`http://${proc.address}/`);
    assert.ok(page.status < 500);
    await page.arrayBuffer();
    const rel = await api('GET', '/apps/shop/releases/v1', tokens.view);
    ok(rel, 200);
    assert.equal(rel.body.status, 'deployed');
    assert.deepEqual((await api('GET', '/apps/shop/releases/1', tokens.view)).body, rel.body);
  });

  it('formation: GET shows web=1; PATCH web=3 then web=1 rolls out', async () => {
    const f = await api('GET', '/apps/shop/formation', tokens.view);
    ok(f, 200);
    assert.deepEqual(f.body, { web: { count: 1, memory: '256M', cpu: 0 } });
    const up = await api('PATCH', '/apps/shop/formation?wait=true', tokens.deploy, { web: 3 });
    ok(up, 200);
    assert.deepEqual(up.body.formation.web, { count: 3, memory: '256M', cpu: 0 });
    assert.equal(up.body.deployment.state, 'succeeded');
    const three = await serving(3, 'v1');
    assert.equal(new Set(three.map((x) => x.host)).size, 2, 'spread over both hosts');
    const down = await api('PATCH', '/apps/shop/formation', tokens.deploy, { web: { count: 1, memory: '128M' } });
    ok(down, 202, 'not waiting');
    assert.equal(down.body.formation.web.memory, '128M');
    assert.ok(['queued', 'running'].includes(down.body.deployment.state));
    await until('scaled down', async () => (await api('GET', `/apps/shop/deployments/${down.body.deployment.id}`, tokens.view)).body.state === 'succeeded', 30_000);
    await serving(1, 'v1');
  });

  it('config set and unset make v2 and v3; GET shows the config', async () => {
    const set = await api('PATCH', '/apps/shop/config', tokens.deploy, { GREETING: 'hello', COLOR: 'blue' });
    ok(set, 202);
    assert.equal(set.body.release.version, 2);
    assert.deepEqual(set.body.release.config, { GREETING: 'hello', COLOR: 'blue' });
    assert.match(set.body.deployment.id, /^\d+$/);
    const unset = await api('PATCH', '/apps/shop/config?wait=true', tokens.deploy, { COLOR: null });
    ok(unset, 200);
    assert.equal(unset.body.release.version, 3);
    assert.equal(unset.body.deployment.state, 'succeeded');
    assert.deepEqual((await api('GET', '/apps/shop/config', tokens.view)).body, { GREETING: 'hello' });
    await serving(1, 'v3');
    const [c] = await p.containers((await api('GET', '/apps/shop', admin)).body.id);
    assert.ok(c!.env.includes('GREETING=hello') && !c!.env.some((e) => e.startsWith('COLOR=')), c!.env.join(' '));
    const list = await api('GET', '/apps/shop/releases?limit=2', tokens.view);
    assert.deepEqual(list.body.items.map((r: any) => r.version), [3, 2]);
    assert.equal(list.body.next, '2');
    assert.deepEqual((await api('GET', '/apps/shop/releases?after=2', tokens.view)).body.items.map((r: any) => r.version), [1]);
  });

  it('rollback to v1 makes v4 with v1\'s config; a bare rollback goes back to v3; a target without an image is 409', async () => {
    const rb = await api('POST', '/apps/shop/rollback?wait=true', tokens.deploy, { version: 'v1' });
    ok(rb, 201);
    assert.equal(rb.body.release.version, 4);
    assert.equal(rb.body.release.reason, 'Rollback to v1');
    assert.deepEqual(rb.body.release.config, {});
    assert.equal(rb.body.deployment.state, 'succeeded');
    assert.deepEqual((await api('GET', '/apps/shop/config', tokens.view)).body, {});
    await serving(1, 'v4');
    const bare = await api('POST', '/apps/shop/rollback?wait=true', tokens.deploy, {});
    ok(bare, 201);
    assert.equal(bare.body.release.reason, 'Rollback to v3');
    assert.deepEqual(bare.body.release.config, { GREETING: 'hello' });
    await serving(1, 'v5');
    ok(await api('POST', '/apps/shop/rollback', tokens.deploy, { version: 99 }), 404);
    ok(await api('POST', '/apps', admin, { name: 'bare' }), 201);
    ok(await api('PATCH', '/apps/bare/config', admin, { ONLY: 'config' }), 202);
    const noImage = await api('POST', '/apps/bare/rollback', admin, { version: 1 });
    ok(noImage, 409);
    assert.match(noImage.body.error.message, /no image/);
    ok(await api('POST', '/apps/bare/rollback', admin, {}), 409, 'nothing deployed');
  });

  it('restart replaces the process; DELETE one process makes the scheduler replace it', async () => {
    const [before] = await serving(1, 'v5');
    const r = await api('POST', '/apps/shop/processes/restart?wait=true', tokens.deploy, { type: 'web' });
    ok(r, 200);
    assert.equal(r.body.deployment.kind, 'restart');
    assert.equal(r.body.deployment.state, 'succeeded');
    const [restarted] = await serving(1, 'v5');
    assert.notEqual(restarted.id, before.id);
    ok(await api('POST', '/apps/shop/processes/restart', tokens.deploy, { type: 'worker' }), 404);
    const stop = await api('DELETE', `/apps/shop/processes/${restarted.id.slice(0, 12)}`, tokens.deploy);
    ok(stop, 202);
    assert.equal(stop.body.id, restarted.id);
    assert.equal(stop.body.state, 'stopping');
    const [replaced] = await until('a replacement serving', async () => {
      const ps = await serving(1, 'v5');
      return ps[0].id !== restarted.id && ps;
    }, 30_000);
    assert.notEqual(replaced.id, restarted.id);
    ok(await api('DELETE', `/apps/shop/processes/${'0'.repeat(64)}`, tokens.deploy), 404);
  });

  it('deployments are listed newest first with their kind and state; one by id; 404 for none', async () => {
    const list = await api('GET', '/apps/shop/deployments?limit=100', tokens.view);
    ok(list, 200);
    const items = list.body.items as any[];
    assert.ok(items.length >= 8, `${items.length} deployments`);
    assert.deepEqual([...items].sort((a, b) => Number(b.id) - Number(a.id)).map((d) => d.id), items.map((d) => d.id));
    for (const kind of ['release', 'scale', 'config', 'rollback', 'restart']) assert.ok(items.some((d) => d.kind === kind && d.state === 'succeeded'), kind);
    assert.ok(items.every((d) => ['succeeded', 'superseded'].includes(d.state)), items.map((d) => d.state).join());
    const one = await api('GET', `/apps/shop/deployments/${v1Deployment}`, tokens.view);
    ok(one, 200);
    assert.equal(one.body.to, 1);
    assert.ok(one.body.log.length > 0);
    ok(await api('GET', '/apps/shop/deployments/999999', tokens.view), 404);
    const pg = await api('GET', '/apps/shop/deployments?limit=2', tokens.view);
    assert.equal(pg.body.items.length, 2);
    const next = await api('GET', `/apps/shop/deployments?limit=2&after=${pg.body.next}`, tokens.view);
    assert.ok(Number(next.body.items[0].id) < Number(pg.body.items[1].id));
  });

  it('builds: an empty list for now, 404 for an id', async () => {
    assert.deepEqual((await api('GET', '/apps/shop/builds', tokens.view)).body, { items: [], next: null });
    ok(await api('GET', '/apps/shop/builds/b123', tokens.view), 404);
  });

  it('domains: add, list, one app per domain (409), wildcards, bad names 422, remove; a deleted app frees its domains', async () => {
    ok(await api('POST', '/apps', admin, { name: 'other' }), 201);
    const add = await api('POST', '/apps/shop/domains', tokens.owner, { domain: 'WWW.Example.com' });
    ok(add, 201);
    assert.equal(add.body.domain, 'www.example.com');
    assert.equal(add.body.app, 'shop');
    assert.equal(add.body.createdBy, 'r-owner');
    ok(await api('POST', '/apps/shop/domains', tokens.owner, { domain: '*.example.com' }), 201);
    const dup = await api('POST', '/apps/other/domains', admin, { domain: 'www.example.com' });
    ok(dup, 409);
    assert.match(dup.body.error.message, /belongs to another app/);
    ok(await api('POST', '/apps/shop/domains', tokens.owner, { domain: 'www.example.com' }), 409);
    for (const bad of ['localhost', 'exa mple.com', '-a.example.com', 'a..b.com', '*.*.example.com', 'www.*.com', '1.2.3.4', `${'a'.repeat(64)}.com`, 'example.com.', '*']) {
      const res = await api('POST', '/apps/shop/domains', tokens.owner, { domain: bad });
      ok(res, 422, bad);
      assert.match(res.body.error.message, /body\.domain/);
    }
    const list = await api('GET', '/apps/shop/domains', tokens.view);
    assert.deepEqual(list.body.items.map((d: any) => d.domain), ['*.example.com', 'www.example.com']);
    ok(await api('POST', '/apps/shop/domains', tokens.deploy, { domain: 'deploy.example.com' }), 403);
    ok(await api('DELETE', '/apps/shop/domains/*.example.com', tokens.owner), 204);
    ok(await api('DELETE', '/apps/shop/domains/*.example.com', tokens.owner), 404);
    ok(await api('POST', '/apps/other/domains', admin, { domain: 'shop.example.org' }), 201);
    ok(await api('DELETE', '/apps/other', admin), 204);
    ok(await api('POST', '/apps/shop/domains', tokens.owner, { domain: 'shop.example.org' }), 201, 'freed by the delete');
    assert.deepEqual((await api('GET', '/apps/shop/domains', tokens.view)).body.items.map((d: any) => d.domain), ['shop.example.org', 'www.example.com']);
  });

  it('events: the app stream got the rollouts\' events; Last-Event-ID resumes after one; /v1/events filters by visibility', async () => {
    await stream.until('deployment.succeeded of v1', (e) => e.event === 'deployment.succeeded' && e.data.data.id === v1Deployment);
    const types = new Set(stream.events.map((e) => e.event));
    for (const t of ['release.created', 'deployment.queued', 'deployment.running', 'deployment.succeeded']) assert.ok(types.has(t), `${t} in ${[...types].join()}`);
    assert.ok(stream.events.every((e) => e.data.app === 'shop' && e.id === e.data.id));
    // Every event names the app's stable id too, which /v1/events filters on (a name can be reused).
    assert.equal(new Set(stream.events.map((e) => e.data.appId)).size, 1);
    assert.match(stream.events[0]!.data.appId, /^[a-z0-9]/);
    // Resume: from the 3rd event on, exactly what came after it, in order.
    const mid = stream.events[2]!;
    const resumed = sse('/v1/apps/shop/events', tokens.view, { 'last-event-id': mid.id });
    const want = stream.events.slice(3).map((e) => e.id);
    await until('the resumed stream caught up', () => resumed.events.length >= want.length, 10_000, 50);
    assert.deepEqual(resumed.events.slice(0, want.length).map((e) => e.id), want);
    resumed.close();
    const byQuery = sse(`/v1/apps/shop/events?after=${mid.id}`, tokens.view);
    await until('?after= resumes too', () => byQuery.events.length >= want.length, 10_000, 50);
    assert.equal(byQuery.events[0]!.id, want[0]);
    byQuery.close();
    // New events arrive live.
    const live = await api('PATCH', '/apps/shop/config', tokens.deploy, { LIVE: '1' });
    await stream.until('the live config release', (e) => e.event === 'release.created' && e.data.data.version === live.body.release.version);
    await stream.until('its rollout', (e) => e.event === 'deployment.succeeded' && e.data.data.id === live.body.deployment.id, 30_000);
    // /v1/events: the admin sees every app; a viewer of shop only shop.
    await all.until('bare events on the admin stream', (e) => e.data.app === 'bare');
    assert.ok(all.events.some((e) => e.data.app === 'shop'));
    const mine = sse('/v1/events?after=0-0', tokens.view);
    await until('the viewer\'s backlog', () => mine.events.some((e) => e.data.app === 'shop' && e.event === 'deployment.succeeded'), 10_000, 50);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(mine.events.every((e) => e.data.app === 'shop'), [...new Set(mine.events.map((e) => e.data.app))].join());
    mine.close();
    // A stranger cannot see the app's stream; a bad cursor is 422.
    ok(await api('GET', '/apps/shop/events', tokens.stranger), 404);
    const bad = await p.request('GET', '/v1/apps/shop/events', { token: tokens.view, headers: { 'last-event-id': 'nope' } });
    ok(bad, 422);
    ok(await api('GET', '/apps/shop/events?after=nope', tokens.view), 422);
    // Revoking the token ends its stream.
    const t = (await api('POST', '/tokens', admin, { user: 'r-view', role: 'view', app: 'shop' })).body;
    const revocable = sse('/v1/apps/shop/events', t.token);
    assert.equal(await revocable.status, 200);
    ok(await api('DELETE', `/tokens/${t.id}`, admin), 204);
    await Promise.race([revocable.ended, new Promise((_, rej) => setTimeout(() => rej(new Error('the revoked token\'s stream did not end')), 10_000))]);
  });

  it('roles: view reads but cannot change (403); a stranger gets 404 everywhere', async () => {
    const id = (await processes())[0]!.id;
    const reads = ['/apps/shop/config', '/apps/shop/formation', '/apps/shop/releases', '/apps/shop/releases/v1', '/apps/shop/builds', '/apps/shop/processes', '/apps/shop/deployments', `/apps/shop/deployments/${v1Deployment}`, '/apps/shop/domains'];
    for (const r of reads) {
      ok(await api('GET', r, tokens.view), 200, r);
      const s = await api('GET', r, tokens.stranger);
      ok(s, 404, r);
      assert.equal(s.body.error.code, 'app_not_found');
    }
    const writes: [string, string, unknown, string][] = [
      ['PATCH', '/apps/shop/config', { A: '1' }, 'deploy'],
      ['PATCH', '/apps/shop/formation', { web: 2 }, 'deploy'],
      ['POST', '/apps/shop/releases', { image: 'bb:1', procfile: { web: WEB } }, 'deploy'],
      ['POST', '/apps/shop/rollback', {}, 'deploy'],
      ['POST', '/apps/shop/processes/restart', {}, 'deploy'],
      ['DELETE', `/apps/shop/processes/${id}`, undefined, 'deploy'],
      ['POST', '/apps/shop/domains', { domain: 'x.example.net' }, 'owner'],
      ['DELETE', '/apps/shop/domains/www.example.com', undefined, 'owner'],
    ];
    for (const [m, path, body, needs] of writes) {
      const res = await api(m, path, tokens.view, body);
      ok(res, 403, `${m} ${path}`);
      assert.match(res.body.error.message, new RegExp(`needs the ${needs} role`));
      ok(await api(m, path, tokens.stranger, body), 404, `${m} ${path}`);
    }
    // Nothing changed.
    assert.deepEqual((await api('GET', '/apps/shop/formation', tokens.view)).body.web.count, 1);
    const theirs = sse('/v1/events?after=0-0', tokens.stranger);
    assert.equal(await theirs.status, 200, 'any token may follow /v1/events');
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(theirs.events, [], 'a stranger sees no event of apps it cannot see');
    theirs.close();
  });

  it('bad input: 400 for malformed JSON, 422 naming the field, 413 over 1 MiB, on every new route', async () => {
    const cases: [string, string, unknown, RegExp][] = [
      ['PATCH', '/apps/shop/config', { PORT: '80' }, /body\.PORT.*reserved/],
      ['PATCH', '/apps/shop/config', { SLIPWAY_APP: 'x' }, /reserved/],
      ['PATCH', '/apps/shop/config', { '1A': 'x' }, /body\.1A.*names are letters/],
      ['PATCH', '/apps/shop/config', { A: 5 }, /body\.A/],
      ['PATCH', '/apps/shop/config', { A: 'x'.repeat(32 * 1024 + 1) }, /body\.A/],
      ['PATCH', '/apps/shop/config', {}, /no changes/],
      ['PATCH', '/apps/shop/config', [], /^body/],
      ['PATCH', '/apps/shop/formation', { web: 101 }, /body\.web/],
      ['PATCH', '/apps/shop/formation', { web: -1 }, /body\.web/],
      ['PATCH', '/apps/shop/formation', { web: 1.5 }, /body\.web/],
      ['PATCH', '/apps/shop/formation', { web: { count: 1, disk: 5 } }, /body\.web/],
      ['PATCH', '/apps/shop/formation', { web: { memory: 'lots' } }, /memory/],
      ['PATCH', '/apps/shop/formation', { worker: 1 }, /no process type worker/],
      ['PATCH', '/apps/shop/formation', { 'Web!': 1 }, /not a process type/],
      ['POST', '/apps/shop/releases', { image: 'bb:1' }, /body\.procfile: is required/],
      ['POST', '/apps/shop/releases', { image: 'bb:1', procfile: {} }, /at least one process type/],
      ['POST', '/apps/shop/releases', { image: 'bb:1', procfile: { web: WEB }, imageUrl: 'file:///etc/passwd' }, /body\.imageUrl/],
      ['POST', '/apps/shop/releases', { image: 'bb:1', procfile: { web: WEB }, createdBy: 'mallory' }, /unknown field "createdBy"/],
      ['POST', '/apps/shop/rollback', { version: 'seven' }, /body\.version/],
      ['POST', '/apps/shop/rollback', { version: 0 }, /body\.version/],
      ['POST', '/apps/shop/processes/restart', { type: 'Web!' }, /body\.type/],
      ['POST', '/apps/shop/domains', {}, /body\.domain: is required/],
    ];
    for (const [m, path, body, msg] of cases) {
      const res = await api(m, path, tokens.owner, body);
      ok(res, 422, `${m} ${path} ${JSON.stringify(body).slice(0, 80)}`);
      assert.equal(res.body.error.code, 'invalid_params');
      assert.match(res.body.error.message, msg);
    }
    for (const [m, path] of [['GET', '/apps/shop/releases/latest'], ['GET', '/apps/shop/deployments/abc'], ['DELETE', '/apps/shop/processes/xyz'], ['GET', '/apps/shop/releases?after=x'], ['GET', '/apps/shop/deployments?after=x'], ['PATCH', '/apps/shop/config?wait=maybe']]) {
      ok(await api(m!, path!, tokens.owner, m === 'PATCH' ? { A: '1' } : undefined), 422, `${m} ${path}`);
    }
    ok(await api('GET', '/apps/shop/releases/v99', tokens.view), 404);
    const ours = p.controller.app.routes.filter((r) => /\/(config|formation|releases|rollback|builds|processes|deployments|domains|events)\b/.test(r.path));
    assert.equal(ours.length, 21); // with POST /apps/:app/domains/:domain/verify
    const values: Record<string, string> = { app: 'shop', version: '1', id: '1', domain: 'www.example.com' };
    for (const r of ours) {
      const path = `/v1${r.path.replace(/:([a-z]+)/g, (_, k: string) => values[k]!)}`;
      const m = r.method.toUpperCase();
      for (const raw of ['{bad', 'nul', '{"a":1}}']) ok(await p.request(m, path, { token: admin, body: raw }), 400, `${m} ${path} ${raw}`);
      ok(await p.request(m, path, { token: admin, body: Buffer.alloc(1024 * 1024 + 1, 0x20) }), 413, `${m} ${path} 1 MiB + 1`);
      ok(await p.request(m, `${path}?nonsense=1`, { token: admin, body: r.body ? {} : undefined }), 422, `${m} ${path}?nonsense`);
    }
    assert.deepEqual(p.logs.filter((l) => /"msg":"request failed"/.test(l)), []);
  });

  it('a rename rolls the processes out under the new name; deleting the app stops them and the name starts fresh', async () => {
    const before = (await api('GET', '/apps/shop/deployments?limit=1', admin)).body.items[0].id;
    ok(await api('PATCH', '/apps/shop', admin, { name: 'shop-two' }), 200);
    const d = await until('the rename rollout', async () => {
      const top = (await api('GET', '/apps/shop-two/deployments?limit=1', admin)).body.items[0];
      return top.id !== before && top.state === 'succeeded' && top;
    }, 30_000);
    assert.match(d.reason, /Rename from shop/);
    const appId = (await api('GET', '/apps/shop-two', admin)).body.id;
    await until('SLIPWAY_APP=shop-two', async () => {
      const cs = (await p.containers(appId)).filter((c) => c.state === 'running');
      return cs.length === 1 && cs[0]!.env.includes('SLIPWAY_APP=shop-two');
    }, 30_000);
    stream.close();
    all.close();
    ok(await api('DELETE', '/apps/shop-two', admin), 204);
    await until('its processes gone', async () => (await p.containers(appId)).length === 0 && (await p.scheduler.listJobs({ formationId: appId })).length === 0, 30_000);
    ok(await api('POST', '/apps', admin, { name: 'shop-two' }), 201);
    assert.deepEqual((await api('GET', '/apps/shop-two/releases', admin)).body.items, []);
    assert.deepEqual((await api('GET', '/apps/shop-two/processes', admin)).body.items, []);
    assert.deepEqual((await api('GET', '/apps/shop-two/domains', admin)).body.items, []);
    ok(await api('POST', '/apps/shop-two/domains', admin, { domain: 'www.example.com' }), 201, 'the old app\'s domains are free');
  });
});
