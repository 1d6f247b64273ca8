// The builder against a real Redis, a real in-process agent (runc, the stack image), a real blob
// server and the real build driver (buildpacks/bin/build): a Node app with a dependency builds and
// its log arrives line by line while it runs, and the second build reuses the cache; the env dir,
// an inline and a git BUILDPACK_URL (over http, allowed by the operator); a compile error and a build script over the memory limit record why. With a stand-in driver
// (test/fixtures/builder): the host's registry and CA bundle reach the container; a cancel stops a
// running build within 10 s and leaves no container; builds of one app run one at a time (the second is told it waits; a queued one cancels at
// once). The slug imports into an agent through its signed URL, over the stack, and runs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectAgent, type AgentClient } from '../../layer0/agent/client.ts';
import { startAgent, type RunningAgent } from '../../layer0/agent/daemon.ts';
import { silentLogger } from '../../layer0/common/logger.ts';
import type { SlipwayPaths } from '../../layer0/common/paths.ts';
import { cleanupByPrefix } from '../../layer0/network/index.ts';
import { removeCgroupParent } from '../../layer0/runtime/index.ts';
import { ensureImage } from '../../layer0/scheduler/agents.ts';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import type { JobSpec } from '../../layer0/scheduler/types.ts';
import { localBlobs, type BlobClient } from '../../layer1/blobstore/client.ts';
import { createDeploy } from '../../layer1/controller/deploy/index.ts';
import { startBlobServer, type RunningBlobServer } from '../../layer1/blobstore/server.ts';
import { createBuildQueue, type BuildQueue } from '../../layer1/builder/queue.ts';
import { slugBlobsToKeep, slugImage } from '../../layer1/builder/slug.ts';
import type { BuildLogLine, BuildRecord } from '../../layer1/builder/types.ts';
import { BUILD_LABEL } from '../../layer1/builder/run-build.ts';
import { startBuilder, type RunningBuilder } from '../../layer1/builder/worker.ts';
import { findLeaks } from '../helpers/leaks.ts';
import { serveGitRepos } from '../helpers/git-http.ts';
import { startTestController } from '../helpers/controller.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { until } from '../helpers/wait.ts';

const STANDIN = resolve(import.meta.dirname, '../fixtures/builder');
const APPS = resolve(import.meta.dirname, '../fixtures/apps');
const TOKEN = `blobs-${randomBytes(8).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'slwt-builder-'));
const paths: SlipwayPaths = { home: join(dir, 'home'), run: join(dir, 'run'), cache: process.env.SLIPWAY_CACHE ?? '/var/cache/slipway', prefix: testPrefix('b') };
const socketPath = join(paths.run, 'agent.sock');
let redis: TestRedis;
let agentd: RunningAgent;
let agent: AgentClient;
let blobSrv: RunningBlobServer;
let blobs: BlobClient;
/** The real driver (the repo's buildpacks/) and a stand-in, each with its own keys and queue. */
let real: RunningBuilder;
let standin: RunningBuilder;
let queue: BuildQueue;
let squeue: BuildQueue;
let keyPrefix: string;
let skeyPrefix: string;

/** A git repo with `files` (or a copy of a fixture app), committed; its `git archive` tar and the commit. */
function source(name: string, files: Record<string, string> | string): { path: string; commit: string; repo: string } {
  const repo = join(dir, 'src', name);
  mkdirSync(repo, { recursive: true });
  if (typeof files === 'string') cpSync(files, repo, { recursive: true });
  else for (const [f, body] of Object.entries(files)) writeFileSync(join(repo, f), body);
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo }).toString().trim();
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'init');
  const path = join(dir, 'src', `${name}.tar`);
  git('archive', '--format=tar', '-o', path, 'HEAD');
  return { path, commit: git('rev-parse', 'HEAD'), repo };
}

let appN = 0;
const newApp = () => ({ id: `app${++appN}${randomBytes(2).toString('hex')}`, name: `builder-app-${appN}` });

async function buildContainers(): Promise<string[]> {
  return (await agent.listContainers({ all: true, labels: [BUILD_LABEL] })).map((c) => c.Id);
}

before(async () => {
  redis = await startTestRedis();
  keyPrefix = redis.prefix('ctl');
  skeyPrefix = redis.prefix('ctl');
  blobSrv = await startBlobServer({ dir: join(paths.home, 'blobs'), port: 0, token: TOKEN });
  blobs = localBlobs(blobSrv.store, { url: blobSrv.url, token: TOKEN });
  // As `slipway up` does: the agent reads slugs with the blobstore's read token.
  agentd = await startAgent({ paths, log: silentLogger, importStack: 'await', fetchAuth: [blobs.agentFetchAuth()] });
  agent = connectAgent({ socketPath });
  real = await startBuilder({ redis: redis.url, agent: { socketPath }, blobs, home: paths.home, keyPrefix, bullPrefix: 'bullr', memoryBytes: 512 * 2 ** 20, log: silentLogger });
  standin = await startBuilder({
    redis: redis.url, agent: { socketPath }, blobs, home: paths.home, keyPrefix: skeyPrefix, bullPrefix: 'bulls',
    buildpacksDir: STANDIN, concurrency: 2, memoryBytes: 256 * 2 ** 20, log: silentLogger,
  });
  queue = createBuildQueue({ redis: redis.url, keyPrefix, bullPrefix: 'bullr' });
  squeue = createBuildQueue({ redis: redis.url, keyPrefix: skeyPrefix, bullPrefix: 'bulls' });
});

after(async () => {
  await queue?.close();
  await squeue?.close();
  await real?.close();
  await standin?.close();
  const leftover = agent ? await buildContainers().catch(() => []) : [];
  for (const c of (await agent?.listContainers({ all: true }).catch(() => [])) ?? []) await agent.removeContainer(c.Id, true).catch(() => undefined);
  await agentd?.close();
  await blobSrv?.close();
  await cleanupByPrefix(paths.prefix);
  removeCgroupParent(paths.prefix);
  const leaks = await findLeaks(paths.prefix, { runcRoots: [join(paths.run, 'runc')] });
  await redis?.cleanup();
  const clones = readdirSync(tmpdir()).filter((n) => n.startsWith('slipway-buildpack-'));
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leftover, [], 'no build container left');
  assert.deepEqual(leaks, [], 'nothing leaked');
  assert.deepEqual(clones, [], 'no buildpack clone left');
});

/** Follows a build's log, noting when each line arrived. */
function follow(q: BuildQueue, id: string): { lines: (BuildLogLine & { at: number })[]; done: Promise<void> } {
  const lines: (BuildLogLine & { at: number })[] = [];
  const done = (async () => {
    for await (const l of q.followLog(id)) lines.push({ ...l, at: Date.now() });
  })();
  return { lines, done };
}

async function logOf(q: BuildQueue, id: string): Promise<BuildLogLine[]> {
  const lines: BuildLogLine[] = [];
  for await (const l of q.followLog(id)) lines.push(l);
  return lines;
}

const textOf = (lines: BuildLogLine[]) => lines.map((l) => l.line).join('\n');

/** The log so far, without waiting for the end. */
async function logOf2(id: string): Promise<string> {
  const rec = await squeue.getBuild(id);
  return rec ? textOf((await squeue.store.readLog(rec.appId, id)).lines) : '';
}

describe('builder with the real driver', { timeout: 400_000 }, () => {
  let built: BuildRecord;

  it('builds a Node app: the log arrives line by line while it runs; the record holds the slug; the next build reuses the cache', async () => {
    const app = newApp();
    const src = source('node-deps', join(APPS, 'node-deps'));
    const { buildId, position } = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path }, createdBy: 'ann' });
    assert.deepEqual(position, { state: 'pending', ahead: 0, blockedBy: null });
    const f = follow(queue, buildId);
    const rec = await queue.waitForBuild(buildId, { timeoutMs: 300_000 });
    await f.done;
    const text = textOf(f.lines);
    assert.equal(rec.state, 'succeeded', text);
    assert.match(text, /-----> Node\.js app detected/);
    const finished = Date.parse(rec.finishedAt!);
    const early = f.lines.filter((l) => l.at < finished - 500);
    assert.ok(early.length >= 3, `lines arrived while the build ran (${early.length} before its end):\n${text}`);
    assert.ok(new Set(f.lines.map((l) => l.at)).size >= 3, 'one by one, not all at once');
    assert.match(f.lines.at(-1)!.line, /succeeded in .* slug [0-9a-f]{12}/);
    assert.equal(f.lines.at(-1)!.stream, 'system');

    assert.equal(rec.app, app.name);
    assert.equal(rec.appId, app.id);
    assert.equal(rec.commit, src.commit);
    assert.equal(rec.createdBy, 'ann');
    assert.ok(rec.slug && /^[0-9a-f]{64}$/.test(rec.slug.blobId) && rec.slug.size > 0);
    assert.ok(await blobs.has(rec.slug.blobId), 'the slug is in the blobstore');
    assert.equal(rec.processTypes.web, 'npm start');
    assert.deepEqual(rec.buildpacks, [{ name: 'Node.js', url: 'nodejs' }]);
    assert.equal(rec.stack, 'bookworm');
    assert.ok(rec.startedAt && rec.durationMs !== null && rec.durationMs > 0);
    assert.equal(rec.failure, null);
    assert.deepEqual(await buildContainers(), [], 'the build container is gone');
    assert.ok(existsSync(join(paths.home, 'cache', 'builds', app.id, 'nodejs')), "the app's cache dir on the host holds the buildpack's cache");
    built = rec;

    // The second build of the app (its source a blob this time) reuses the cache.
    const again = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { blobId: (await blobs.put(readStream(src.path))).id } });
    const rec2 = await queue.waitForBuild(again.buildId, { timeoutMs: 300_000 });
    const log2 = textOf(await logOf(queue, again.buildId));
    assert.equal(rec2.state, 'succeeded', log2);
    assert.match(log2, /Restoring cache|from the build cache/);
    assert.deepEqual((await queue.store.list(app.id)).items.map((b) => b.id), [again.buildId, buildId], 'newest first');
  });

  it('config vars reach the env dir, not the environment; BUILDPACK_URL=. runs the app\'s own buildpack', async () => {
    const app = newApp();
    const src = source('env-dir', join(APPS, 'env-dir'));
    const { buildId } = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path }, config: { GREETING: 'hello there' }, buildpackUrl: '.' });
    const rec = await queue.waitForBuild(buildId, { timeoutMs: 120_000 });
    const text = textOf(await logOf(queue, buildId));
    assert.equal(rec.state, 'succeeded', text);
    assert.match(text, /GREETING from ENV_DIR: hello there/);
    assert.match(text, /GREETING in environment: unset/);
    assert.match(text, new RegExp(`STACK=bookworm SOURCE_VERSION=${src.commit} user=app`));
    assert.equal(rec.processTypes.once, 'cat compiled.txt');
  });

  it('a git BUILDPACK_URL is fetched over http from a host the operator allows; a file:// one or one that cannot be fetched fails saying so', async () => {
    const pack = source('git-pack', join(APPS, 'env-dir'));
    const server = await serveGitRepos(join(dir, 'src'));
    const saved = process.env.SLIPWAY_URL_ALLOW;
    process.env.SLIPWAY_URL_ALLOW = '127.0.0.1';
    try {
      const app = newApp();
      const src = source('plain', { 'README.txt': 'an app with no buildpack of its own\n' });
      const url = `${server.url}/git-pack/.git#main`;
      const { buildId } = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path }, config: { GREETING: 'via git' }, buildpackUrl: url });
      const rec = await queue.waitForBuild(buildId, { timeoutMs: 120_000 });
      const text = textOf(await logOf(queue, buildId));
      assert.equal(rec.state, 'succeeded', text);
      assert.match(text, /Fetching buildpack http:\/\/127\.0\.0\.1:\d+\/git-pack\/\.git#main/);
      assert.match(text, /GREETING from ENV_DIR: via git/);

      const missing = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path }, buildpackUrl: `${server.url}/no-such-pack.git` });
      const missingRec = await queue.waitForBuild(missing.buildId, { timeoutMs: 60_000 });
      assert.equal(missingRec.state, 'failed');
      assert.equal(missingRec.failure?.code, 'buildpack_unavailable');
      assert.match(missingRec.failure!.message, /could not fetch the buildpack/);
      assert.doesNotMatch(missingRec.failure!.message, /fatal:/);

      const local = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path }, buildpackUrl: `file://${pack.repo}#main` });
      const localRec = await queue.waitForBuild(local.buildId, { timeoutMs: 60_000 });
      assert.equal(localRec.state, 'failed');
      assert.equal(localRec.failure?.code, 'buildpack_unavailable');
      assert.match(localRec.failure!.message, /https:\/\//);
    } finally {
      if (saved === undefined) delete process.env.SLIPWAY_URL_ALLOW;
      else process.env.SLIPWAY_URL_ALLOW = saved;
      await server.close();
    }
  });

  it('a compile error records the failure and the driver\'s explanation', async () => {
    const app = newApp();
    const src = source('compile-error', join(APPS, 'compile-error'));
    const { buildId } = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path } });
    const rec = await queue.waitForBuild(buildId, { timeoutMs: 300_000 });
    const lines = await logOf(queue, buildId);
    assert.equal(rec.state, 'failed', textOf(lines));
    assert.equal(rec.failure?.code, 'build_failed');
    assert.ok(rec.failure?.exitCode && rec.failure.exitCode > 0);
    assert.equal(rec.slug, null);
    assert.ok(lines.some((l) => l.stream === 'stderr' && l.line.startsWith(' !')), textOf(lines));
    assert.match(lines.at(-1)!.line, /the build failed \(exit code \d+\)/);
    assert.deepEqual(await buildContainers(), []);
  });

  it('a build script over the memory limit fails the build, and the failure says so', async () => {
    const app = newApp();
    const src = source('build-oom', join(APPS, 'build-oom'));
    const { buildId } = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path } });
    const rec = await queue.waitForBuild(buildId, { timeoutMs: 300_000 });
    const lines = await logOf(queue, buildId);
    assert.equal(rec.state, 'failed', textOf(lines));
    assert.equal(rec.failure?.code, 'out_of_memory', JSON.stringify(rec.failure));
    assert.match(rec.failure!.message, /ran out of memory \(limit 512 MiB\)/);
    assert.match(textOf(lines), /memory limit/);
    assert.deepEqual(await buildContainers(), []);
  });

  it('the slug imports into an agent through its bare URL (the agent\'s read token), over the stack, and runs', async () => {
    assert.ok(built?.slug, 'the first test built a slug');
    const img = slugImage(built, blobs);
    assert.equal(img.image, `slipway/slug:${built.slug.blobId.slice(0, 12)}`);
    assert.equal(img.imageParent, 'slipway/stack:bookworm');
    assert.equal(img.imageUrl, `${blobSrv.url}/blobs/${built.slug.blobId}`, 'no signature: the URL alone reads nothing');
    // exactly what the scheduler does on a host that lacks the image
    await ensureImage(agent, img as unknown as JobSpec);
    assert.ok((await agent.inspectImage(img.image)).Id);
    const id = await agent.createContainer({
      Image: img.image, User: '10001', WorkingDir: '/app', Env: ['HOME=/app'],
      Cmd: ['/app/.slipway/launch', 'echo "ms=$(node -e "console.log(require(\'ms\')(\'2 days\'))")"; stat -c "%u %n" /app /app/server.js; echo NODE_ENV=$NODE_ENV'],
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      await agent.startContainer(id);
      const code = await agent.waitContainer(id);
      let out = '';
      for await (const c of agent.logs(id)) out += c.data.toString();
      assert.equal(code, 0, out);
      assert.match(out, /ms=172800000/);
      assert.match(out, /10001 \/app\n10001 \/app\/server\.js/);
      assert.match(out, /NODE_ENV=production/, 'the slug\'s .profile.d ran');
    } finally {
      await agent.removeContainer(id, true);
      await agent.removeImage(img.image, true).catch(() => undefined);
    }
    // a release that names this slug keeps it from gc
    const r = redis.connect();
    await r.hset(`${keyPrefix}app:${built.appId}:releases`, '1', JSON.stringify({ image: img.image, imageUrl: img.imageUrl }));
    assert.ok((await slugBlobsToKeep(r, { prefix: keyPrefix })).has(built.slug.blobId));
  });
});

describe('builder with a stand-in driver', { timeout: 240_000 }, () => {
  it("the container gets the host's registry and CA bundle, SOURCE_VERSION, STACK and the app's cache", async () => {
    const app = newApp();
    const src = source('standin-ok', { 'message.txt': 'hi\n' });
    const { buildId } = await squeue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path }, config: { EMPTY: '' }, buildpackUrl: 'stand-in' });
    const rec = await squeue.waitForBuild(buildId, { timeoutMs: 60_000 });
    const lines = await logOf(squeue, buildId);
    const text = textOf(lines);
    assert.equal(rec.state, 'succeeded', text);
    assert.match(text, new RegExp(`Stand-in build of ${src.commit} on stack bookworm`));
    assert.match(text, /registry=https?:\/\/\S+ cafile=\/etc\/ssl\/certs\/slipway-host-ca\.crt ca-present=yes/);
    assert.match(text, /buildpack-url=stand-in uid=10001/);
    assert.match(text, /env EMPTY=$/m);
    assert.match(text, /cache builds=1/);
    assert.ok(lines.some((l) => l.stream === 'stderr' && l.line.includes('to stderr')), 'stderr is kept apart');
    assert.deepEqual(rec.buildpacks, [{ name: 'Stand-in', url: 'stand-in' }]);
    await assert.rejects(squeue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path }, config: { 'BAD NAME': 'x' } }), (err: Error & { code?: string }) => err.code === 'invalid_params' && /config/.test(err.message));
    await assert.rejects(squeue.enqueueBuild({ app, commit: 'not-a-sha', sourceTar: { path: src.path } }), /commit/);
  });

  it('a cancel stops a running build within 10 s and leaves no container', async () => {
    const app = newApp();
    const src = source('slow', { SLOW: '1' });
    const { buildId } = await squeue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path } });
    const f = follow(squeue, buildId);
    await until('the build to run', () => f.lines.some((l) => l.line.includes('sleeping')), 60_000);
    assert.equal((await squeue.getBuild(buildId))?.state, 'building');
    assert.equal((await buildContainers()).length, 1);
    const t0 = Date.now();
    await squeue.cancelBuild(buildId);
    const rec = await squeue.waitForBuild(buildId, { timeoutMs: 10_000 });
    const ms = Date.now() - t0;
    assert.equal(rec.state, 'cancelled');
    assert.equal(rec.failure?.code, 'cancelled');
    assert.ok(ms < 10_000, `cancelled in ${ms} ms`);
    await f.done;
    assert.deepEqual(await buildContainers(), [], 'no container left');
    assert.equal((await squeue.cancelBuild(buildId)).state, 'cancelled', 'cancelling an ended build changes nothing');
  });

  it('GET /v1/apps/:app/builds[/:id] shows the builds, newest first, one with its log', async () => {
    const scheduler = createSchedulerClient({ redisUrl: redis.url, keyPrefix: redis.prefix('sch') });
    const deploy = createDeploy({ redis: redis.url, keyPrefix: skeyPrefix, scheduler });
    const c = await startTestController({ redis, keyPrefix: skeyPrefix, deploy: { deploy, scheduler } });
    try {
      const made = await c.request('POST', '/v1/apps', { token: c.adminToken, body: { name: 'built-app' } });
      assert.equal(made.status, 201, made.text);
      const app = { id: made.body.id as string, name: 'built-app' };
      const src = source('api', { 'message.txt': 'api\n' });
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) {
        const { buildId } = await squeue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path } });
        assert.equal((await squeue.waitForBuild(buildId, { timeoutMs: 60_000 })).state, 'succeeded');
        ids.unshift(buildId);
      }
      const list = await c.request('GET', '/v1/apps/built-app/builds?limit=1', { token: c.adminToken });
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.body.items.map((b: BuildRecord) => b.id), [ids[0]]);
      assert.equal(list.body.next, ids[0]);
      const rest = await c.request('GET', `/v1/apps/built-app/builds?after=${ids[0]}`, { token: c.adminToken });
      assert.deepEqual(rest.body.items.map((b: BuildRecord) => b.id), [ids[1]]);
      assert.equal(rest.body.next, null);
      const one = await c.request('GET', `/v1/apps/built-app/builds/${ids[1]}`, { token: c.adminToken });
      assert.equal(one.status, 200, one.text);
      assert.equal(one.body.state, 'succeeded');
      assert.equal(one.body.commit, src.commit);
      assert.ok(one.body.slug.blobId);
      assert.ok(one.body.log.some((l: string) => l.includes('Stand-in build of')), one.text);
      assert.equal((await c.request('GET', '/v1/apps/built-app/builds/b_nope', { token: c.adminToken })).status, 404);
      assert.equal((await c.request('GET', '/v1/apps/built-app/builds?after=b_nope', { token: c.adminToken })).status, 422);
    } finally {
      await c.close();
      await deploy.close();
      scheduler.close();
    }
  });

  it('one build at a time per app: the second waits and is told so; a queued one cancels at once', async () => {
    const app = newApp();
    const other = newApp();
    const a = source('seq-a', { SLEEP: '3', 'message.txt': 'a' });
    const b = source('seq-b', { 'message.txt': 'b' });
    const first = await squeue.enqueueBuild({ app, commit: a.commit, sourceTar: { path: a.path } });
    const second = await squeue.enqueueBuild({ app, commit: b.commit, sourceTar: { path: b.path } });
    const third = await squeue.enqueueBuild({ app, commit: b.commit, sourceTar: { path: b.path } });
    const elsewhere = await squeue.enqueueBuild({ app: other, commit: b.commit, sourceTar: { path: b.path } });
    assert.deepEqual(second.position, { state: 'pending', ahead: 1, blockedBy: first.buildId });
    assert.equal(third.position.ahead, 2);
    assert.equal(elsewhere.position.ahead, 0, 'another app does not wait');
    const f2 = follow(squeue, second.buildId);
    await until('the first build to run', async () => (await squeue.getBuild(first.buildId))?.state === 'building', 60_000);
    assert.equal((await squeue.position(second.buildId)).state, 'pending');
    const c = await squeue.cancelBuild(third.buildId);
    assert.equal(c.state, 'cancelled');
    assert.equal((await squeue.position(second.buildId)).ahead, 1);

    const r1 = await squeue.waitForBuild(first.buildId, { timeoutMs: 120_000 });
    const r2 = await squeue.waitForBuild(second.buildId, { timeoutMs: 120_000 });
    const ro = await squeue.waitForBuild(elsewhere.buildId, { timeoutMs: 120_000 });
    await f2.done;
    assert.equal(r1.state, 'succeeded');
    assert.equal(r2.state, 'succeeded');
    assert.equal(ro.state, 'succeeded');
    assert.ok(Date.parse(r2.startedAt!) >= Date.parse(r1.finishedAt!), 'the second started after the first ended');
    assert.ok(Date.parse(ro.startedAt!) < Date.parse(r1.finishedAt!), 'the other app built meanwhile');
    assert.match(f2.lines[0]!.line, /waiting for 1 earlier build of builder-app-\d+ to finish/);
    assert.equal(f2.lines[0]!.stream, 'system');
    assert.deepEqual((await squeue.store.queuedApps()).filter((x) => x === app.id), [], "the app's queue is empty");
  });

  it('a build over its time limit is stopped and fails saying so', async () => {
    const kp = redis.prefix('ctl');
    const b = await startBuilder({
      redis: redis.url, agent: { socketPath }, blobs, home: paths.home, keyPrefix: kp, bullPrefix: 'bullt',
      buildpacksDir: STANDIN, timeoutMs: 3000, log: silentLogger, host: { npmRegistry: 'https://registry.npmjs.org/', caBundle: null },
    });
    const q = createBuildQueue({ redis: redis.url, keyPrefix: kp, bullPrefix: 'bullt' });
    try {
      const src = source('too-long', { SLOW: '1' });
      const { buildId } = await q.enqueueBuild({ app: newApp(), commit: src.commit, sourceTar: { path: src.path } });
      const rec = await q.waitForBuild(buildId, { timeoutMs: 60_000 });
      assert.equal(rec.state, 'failed');
      assert.equal(rec.failure?.code, 'timeout');
      assert.match(rec.failure!.message, /took longer than 3 s and was stopped/);
      assert.ok(rec.durationMs! < 15_000);
      assert.deepEqual(await buildContainers(), []);
    } finally {
      await q.close();
      await b.close();
    }
  });

  it("a queue head whose job was lost (a producer died between two steps) is built after the worker's resync", async () => {
    const kp = redis.prefix('ctl');
    const q = createBuildQueue({ redis: redis.url, keyPrefix: kp, bullPrefix: 'bullx' });
    const src = source('lost-job', { 'message.txt': 'x' });
    const app = newApp();
    const { buildId } = await q.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path } });
    await q.bull.remove(buildId);
    assert.equal(await q.bull.getJob(buildId), undefined);
    const b = await startBuilder({
      redis: redis.url, agent: { socketPath }, blobs, home: paths.home, keyPrefix: kp, bullPrefix: 'bullx',
      buildpacksDir: STANDIN, log: silentLogger, host: { npmRegistry: 'https://registry.npmjs.org/', caBundle: null },
    });
    try {
      const rec = await q.waitForBuild(buildId, { timeoutMs: 60_000 });
      assert.equal(rec.state, 'succeeded');
    } finally {
      await q.close();
      await b.close();
    }
  });

  it('a builder that stops stops its running build, records it as interrupted and leaves no container (last: it closes the stand-in builder)', async () => {
    const app = newApp();
    const src = source('interrupted', { SLOW: '1' });
    const { buildId } = await squeue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path } });
    await until('the build to run', async () => (await logOf2(buildId)).includes('sleeping'), 60_000);
    const t0 = Date.now();
    await standin.close();
    assert.ok(Date.now() - t0 < 10_000, `closed in ${Date.now() - t0} ms`);
    const rec = await squeue.getBuild(buildId);
    assert.equal(rec?.state, 'failed');
    assert.equal(rec?.failure?.code, 'interrupted');
    assert.deepEqual(await buildContainers(), []);
  });
});

function readStream(path: string) {
  assert.ok(existsSync(path));
  return (async function* () {
    yield readFileSync(path);
  })();
}
