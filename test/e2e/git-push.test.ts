// `git push slipway main` on a platform of `slipway up --detach` (real git, runc containers,
// buildpacks, the router): the fixture apps answer through the router as soon as their push
// returns, with `remote:` lines streamed while it runs; a second push reuses the build cache;
// config vars reach the build (env dir) and the processes; the release phase runs (and a failing
// one stops the deploy); a rollback; every kind of failure refuses the push, says why, and leaves
// the previous release serving; Ctrl-C cancels the build; five deploys and a rollback under a
// keep-alive load fail no request; down and up again bring the apps back. One platform for all
// cases (they run in order).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { findLeaks } from '../helpers/leaks.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { freePort, until } from '../helpers/wait.ts';
import { httpGet } from '../helpers/http.ts';
import { BIN, commitFixture, fixtureRepo, git, loadGenerator, push, slipwayIn } from '../helpers/git-push.ts';

const execFileP = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'slwt-push-'));
const env: NodeJS.ProcessEnv = {
  ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: testPrefix('g'),
  SLIPWAY_API_PORT: String(await freePort()), SLIPWAY_HTTP_PORT: String(await freePort()), SLIPWAY_HTTPS_PORT: String(await freePort()),
  SLIPWAY_ROUTER_ADMIN_PORT: String(await freePort()), SLIPWAY_BLOB_PORT: String(await freePort()),
  // build-oom must meet its limit fast, without taking the machine's memory.
  SLIPWAY_BUILD_MEMORY: '512M',
};
const routerPort = Number(env.SLIPWAY_HTTP_PORT);
const web = (app: string, path = '/') => httpGet(routerPort, path, { host: `${app}.localhost` });
const up = (args: string[], timeout = 180_000) => execFileP(process.execPath, [BIN, ...args], { env, timeout });
let cli: NodeJS.ProcessEnv;
const sw = (cwd: string, ...args: string[]) => slipwayIn(cwd, cli, args);

/** A fresh repo of `fixture` with the app created in it (and the `slipway` remote added by apps:create). */
async function newApp(name: string, fixture: string): Promise<{ repo: string; sha: string }> {
  const repo = join(dir, 'apps', name);
  const sha = await fixtureRepo(repo, fixture);
  await sw(repo, 'apps:create', name);
  return { repo, sha };
}

/** Pushes and asserts it succeeded, returning the output. */
async function pushOk(repo: string): Promise<string> {
  const r = await push(repo).done;
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /-----> Deployed v\d+ to http:\/\/[a-z0-9-]+\.localhost:\d+/);
  return r.out;
}

before(async () => {
  const r = await up(['up', '--detach']);
  assert.match(r.stdout, /slipway is up/);
  cli = { ...process.env, SLIPWAY_URL: `http://127.0.0.1:${env.SLIPWAY_API_PORT}`, SLIPWAY_TOKEN: readFileSync(join(dir, 'home', 'admin-token'), 'utf8').trim() };
});

after(async () => {
  await up(['down'], 70_000).catch(() => undefined);
  const leaks = await findLeaks(env.SLIPWAY_PREFIX!, { runcRoots: [join(dir, 'run', 'runc')] });
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leaks, [], 'slipway down leaves nothing');
});

describe('git push slipway main', { timeout: 900_000 }, () => {
  let nd: { repo: string; sha: string };

  it('node-deps: streams remote: lines, answers through the router when the push returns; the second push reuses the cache', async () => {
    nd = await newApp('ndeps', 'node-deps');
    assert.match(await git(nd.repo, 'remote', 'get-url', 'slipway'), new RegExp(`^http://git:slw_[^@]+@127\\.0\\.0\\.1:${env.SLIPWAY_API_PORT}/git/ndeps\\.git$`));
    const r = await push(nd.repo).done;
    assert.equal(r.code, 0, r.out);
    const first = await web('ndeps');
    assert.equal(first.status, 200, 'answers as soon as the push returned');
    assert.match(first.body, new RegExp(`^node-deps ok: ms\\('2 days'\\)=172800000 NODE_ENV=production version=${nd.sha}`));
    assert.equal((await web('ndeps', '/env/HOME')).body.trim(), '/app');
    // The build's lines arrive while it runs, well before the push ends (the rollout comes after them).
    const detected = r.lines.find((l) => l.text.includes('remote: -----> Node.js app detected'));
    assert.ok(detected, r.out);
    assert.ok(r.ms - detected.at > 300, `remote: lines stream (detected at ${detected.at} ms of ${r.ms} ms)`);
    assert.match(r.out, /remote: -----> Deployed v1 to http:\/\/ndeps\.localhost:\d+/);
    assert.match(r.out, /Done in [\d.]+ s \(receive [\d.]+ s, build [\d.]+ s, slug [\d.]+ s, start [\d.]+ s, health check [\d.]+ s, route switch [\d.]+ s\)/);

    const sha2 = await commitFixture(nd.repo, 'node-deps', { 'CHANGES.md': 'two\n' });
    const out2 = await pushOk(nd.repo);
    assert.match(out2, /Restoring cache \(1 packages\)/);
    assert.match(out2, /skipping npm ci/, 'the second build reuses node_modules from the cache');
    assert.match((await web('ndeps')).body, new RegExp(`version=${sha2}`));
    const builds = await sw(nd.repo, 'builds');
    assert.equal(builds.match(/succeeded/g)?.length, 2, builds);
  });

  it('config vars: seen by the build (env dir) and by the running processes', async () => {
    const nb = join(dir, 'apps', 'nbuild');
    await fixtureRepo(nb, 'node-build');
    await sw(nb, 'apps:create', 'nbuild');
    await sw(nb, 'config:set', 'BUILD_GREETING=hello-from-config');
    await pushOk(nb);
    assert.match((await web('nbuild')).body, /^<h1>node-build built this<\/h1><p>2m hello-from-config version=/);
    await sw(nd.repo, 'config:set', 'GREETING=hi-at-run-time');
    assert.equal((await web('ndeps', '/env/GREETING')).body.trim(), 'hi-at-run-time');
  });

  it('static-site and python-stdlib answer as expected as soon as their push returns', async () => {
    const st = await newApp('static', 'static-site');
    await pushOk(st.repo);
    const page = await web('static');
    assert.equal(page.status, 200);
    assert.match(page.body, /Hello from static-site/);
    assert.equal((await web('static', '/app/some/route')).status, 200, 'the routes fallback');
    assert.equal((await web('static', '/nope')).status, 404);
    const py = await newApp('pystd', 'python-stdlib');
    await pushOk(py.repo);
    assert.match((await web('pystd')).body, new RegExp(`^hello from python 3\\.11\\.\\d+ venv=/app/\\.venv version=${py.sha}`));
  });

  it('web-worker: the first deploy runs web=1; a scaled worker runs; a later push keeps the formation; a type that left goes to 0', async () => {
    const ww = await newApp('webwork', 'web-worker');
    await pushOk(ww.repo);
    assert.match((await web('webwork')).body, /^web-worker web web\.1 version=/);
    const ps = async () => JSON.parse(await sw(ww.repo, 'ps', '--json')) as { type: string; state: string }[];
    const running = async () => [...new Set((await ps()).filter((p) => p.state === 'running').map((p) => p.type))].sort();
    assert.deepEqual((await ps()).map((p) => p.type), ['web']);
    await sw(ww.repo, 'ps:scale', 'worker=1');
    assert.deepEqual(await running(), ['web', 'worker']);
    await commitFixture(ww.repo, 'web-worker', { 'CHANGES.md': 'two\n' });
    await pushOk(ww.repo);
    assert.deepEqual(await running(), ['web', 'worker'], 'the formation is kept');
    await commitFixture(ww.repo, 'web-worker', { Procfile: 'web: node web.js\n' });
    await pushOk(ww.repo);
    await until('the worker stopped', async () => (await ps()).every((p) => p.type === 'web'), 45_000, 250);
    assert.match((await web('webwork')).body, /^web-worker web web\.1 /);
    // It was scaled to 0: back in the Procfile, it stays at 0 until scaled again.
    await commitFixture(ww.repo, 'web-worker');
    await pushOk(ww.repo);
    const formation = await (await fetch(`${cli.SLIPWAY_URL}/v1/apps/webwork/formation`, { headers: { authorization: `Bearer ${cli.SLIPWAY_TOKEN}` } })).json() as Record<string, { count: number }>;
    assert.deepEqual([formation.web?.count, formation.worker?.count], [1, 0]);
    assert.deepEqual(await running(), ['web']);
  });

  it('release phase: runs before the rollout with its output in the push; when it fails the release is not rolled out', async () => {
    const rs = await newApp('relstep', 'release-step');
    const out = await pushOk(rs.repo);
    assert.match(out, new RegExp(`remote: -----> Running release command: node release.js[\\s\\S]*release-step: release phase ran for ${rs.sha} \\(v1\\)[\\s\\S]*Releasing v1`));
    assert.match((await web('relstep')).body, new RegExp(`^release-step web v1 version=${rs.sha}`));
    await sw(rs.repo, 'config:set', 'RELEASE_SHOULD_FAIL=1');
    await commitFixture(rs.repo, 'release-step', { 'CHANGES.md': 'two\n' });
    const r = await push(rs.repo).done;
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /release phase failed on purpose/);
    assert.match(r.out, /!\s+Release phase failed: the release command exited with status 1\./);
    assert.match(r.out, /!\s+v3 was not deployed; v2 keeps serving\./);
    assert.match((await web('relstep')).body, new RegExp(`^release-step web v2 version=${rs.sha}`), 'the old release serves');
    const releases = await sw(rs.repo, 'releases');
    assert.match(releases, /v3\s+failed/);
  });

  it('rollback: the previous release serves again', async () => {
    const before = (await web('ndeps')).body;
    const list = JSON.parse(await sw(nd.repo, 'releases', '--json')) as { version: number; status: string; reason: string }[];
    const v1 = list.find((r) => r.version === 1)!;
    assert.equal(v1.status, 'deployed');
    await sw(nd.repo, 'releases:rollback', 'v1');
    const now = (await web('ndeps')).body;
    assert.notEqual(now, before);
    assert.match(now, new RegExp(`version=${nd.sha}`));
  });

  it('failures refuse the push, say why, and leave the previous release serving', async () => {
    const fl = await newApp('fails', 'web-worker');
    await pushOk(fl.repo);
    const serving = (await web('fails')).body;
    assert.match(serving, new RegExp(`version=${fl.sha}`));
    const cases: [string, Record<string, string>, RegExp[]][] = [
      ['no-buildpack', {}, [/Build failed: .*(buildpack|detect)/i]],
      ['compile-error', {}, [/build\.js: cannot compile src\/app\.ts/, /Build failed: The build script failed: 'npm run build' exited 1/]],
      ['build-oom', {}, [/Build failed: .*memory/i]],
      ['web-crash', {}, [/web process crashed: exited with code 3/, /web-crash: exiting on purpose/, /rolled back to v1/]],
      ['web-no-port', { 'app.json': JSON.stringify({ healthchecks: { web: [{ type: 'startup', path: '/', timeout: 4, attempts: 1 }] } }) },
        [/web: 0 of 1 processes passed the health check \(GET \/ below 500 on port 5000\) within 4 s/, /not listening/, /rolled back to v1/]],
    ];
    for (const [fixture, extra, reasons] of cases) {
      await commitFixture(fl.repo, fixture, extra);
      const r = await push(fl.repo).done;
      assert.notEqual(r.code, 0, `${fixture}: ${r.out}`);
      assert.match(r.out, /\[remote rejected\] main -> main \(pre-receive hook declined\)/, fixture);
      for (const re of reasons) assert.match(r.out, re, `${fixture}: ${r.out}`);
      if (/Build failed/.test(r.out)) assert.match(r.out, /Nothing was deployed; v1 keeps serving\./, fixture);
      const still = await web('fails');
      assert.deepEqual([still.status, still.body], [200, serving], `${fixture}: the old release keeps serving`);
      await git(fl.repo, 'reset', '-q', '--hard', fl.sha);
    }
    // The same check set through the API (the formation) instead of app.json.
    const api = (method: string, path: string, body: unknown) => fetch(`${cli.SLIPWAY_URL}/v1${path}`, {
      method, headers: { authorization: `Bearer ${cli.SLIPWAY_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const scaled = await api('PATCH', '/apps/fails/formation?wait=true', { web: { health: { type: 'tcp', timeout: 3 } } });
    assert.equal(scaled.status, 200, await scaled.clone().text());
    const served = (await web('fails')).body;
    await commitFixture(fl.repo, 'web-no-port');
    const r = await push(fl.repo).done;
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /web: 0 of 1 processes passed the health check \(TCP connect to port 5000\) within 3 s/);
    assert.equal((await web('fails')).body, served, 'the old release keeps serving');
    await git(fl.repo, 'reset', '-q', '--hard', fl.sha);
    assert.equal((await api('PATCH', '/apps/fails/formation', { web: { health: null } })).status, 202);

    const builds = await sw(fl.repo, 'builds');
    assert.match(builds, /failed/);
  });

  it('Ctrl-C on the push cancels the build within 10 s and deploys nothing', async () => {
    const cc = join(dir, 'apps', 'ctrlc');
    await fixtureRepo(cc, 'env-dir');
    // An inline buildpack whose compile takes minutes.
    await commitFixture(cc, 'env-dir', {
      'bin/compile': '#!/usr/bin/env bash\necho "-----> compiling slowly"\nsleep 300\n',
    });
    await execFileP('chmod', ['+x', join(cc, 'bin/compile'), join(cc, 'bin/detect')]);
    await git(cc, 'add', '-A');
    await git(cc, 'commit', '-q', '--allow-empty', '-m', 'slow');
    await sw(cc, 'apps:create', 'ctrlc');
    await sw(cc, 'config:set', 'BUILDPACK_URL=.');
    let compiling: () => void = () => undefined;
    const started = new Promise<void>((r) => (compiling = r));
    const p = push(cc, { onLine: (l) => l.includes('compiling slowly') && compiling() });
    await Promise.race([started, p.done.then((r) => assert.fail(`the push ended early: ${r.out}`))]);
    const buildContainers = async () => (await execFileP('docker', ['-H', `unix://${join(dir, 'run', 'agent.sock')}`, 'ps', '-aq', '--filter', 'label=slipway.build'])).stdout.trim();
    assert.notEqual(await buildContainers(), '', 'the build runs in a container');
    const t0 = Date.now();
    process.kill(-p.child.pid!, 'SIGINT');
    const r = await p.done;
    assert.notEqual(r.code, 0);
    await until('the build container is gone', async () => (await buildContainers()) === '', 10_000, 200);
    assert.ok(Date.now() - t0 < 10_000);
    const list = JSON.parse(await sw(cc, 'builds', '--json')) as { state: string }[];
    await until('the build recorded as cancelled', async () => {
      const l = JSON.parse(await sw(cc, 'builds', '--json')) as { state: string }[];
      return l[0]?.state === 'cancelled';
    }, 10_000, 250);
    assert.equal(list.length, 1);
    assert.equal((await web('ctrlc')).status, 503, 'nothing deployed');
  });

  it('slipway down leaves nothing; up again brings the pushed apps back through the router', async () => {
    await up(['down'], 70_000);
    assert.deepEqual(await findLeaks(env.SLIPWAY_PREFIX!, { runcRoots: [join(dir, 'run', 'runc')] }), []);
    await up(['up', '--detach']);
    for (const [app, re] of [['ndeps', new RegExp(`version=${nd.sha}`)], ['static', /Hello from static-site/], ['relstep', /^release-step web v2 /]] as const) {
      const r = await until(`${app} back`, async () => {
        const x = await web(app).catch(() => null);
        return x?.status === 200 && x;
      }, 60_000, 250);
      assert.match(r.body, re, app);
    }
  });

  it('zero downtime: five deploys and a rollback under keep-alive load fail no request, and the answers switch to each new version', async () => {
    const zd = await newApp('zerodown', 'node-deps');
    await pushOk(zd.repo);
    const load = loadGenerator(routerPort, 'zerodown.localhost', 4);
    const shas = [zd.sha];
    try {
      for (let i = 1; i <= 5; i++) {
        await git(zd.repo, 'commit', '-q', '--allow-empty', '-m', `deploy ${i}`);
        const sha = await git(zd.repo, 'rev-parse', 'HEAD');
        await pushOk(zd.repo);
        shas.push(sha);
        for (let k = 0; k < 5; k++) assert.match((await web('zerodown')).body, new RegExp(`version=${sha}`), `deploy ${i}: the new version answers once the push returned`);
      }
      await sw(zd.repo, 'releases:rollback');
      for (let k = 0; k < 5; k++) assert.match((await web('zerodown')).body, new RegExp(`version=${shas[4]}`), 'the rollback answers');
    } finally {
      const r = await load.stop();
      assert.deepEqual(r.failed.slice(0, 5), [], `${r.failed.length} failed requests of ${r.ok + r.failed.length}`);
      assert.ok(r.ok > 100, `${r.ok} requests`);
      const versions = new Set(r.seen.map((s) => s.version));
      for (const sha of shas) assert.ok(versions.has(sha), `the load saw ${sha.slice(0, 7)}`);
    }
  });
});
