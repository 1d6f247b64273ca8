// The builder against a real Redis, a real in-process agent (runc, the stack image) and a real
// blob server: a build succeeds and its log arrives line by line while it runs, with the host's
// registry, CA bundle, SOURCE_VERSION, the env dir and the app's cache; a failing build records
// why; a cancel stops a running build within 10 s and leaves no container; builds of one app run
// one at a time (the second is told it waits; a queued one cancels at once); the slug imports
// into an agent through its signed URL, over the stack, and runs as uid 10001.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import type { JobSpec } from '../../layer0/scheduler/types.ts';
import { localBlobs, type BlobClient } from '../../layer1/blobstore/client.ts';
import { startBlobServer, type RunningBlobServer } from '../../layer1/blobstore/server.ts';
import { createBuildQueue, type BuildQueue } from '../../layer1/builder/queue.ts';
import { slugBlobsToKeep, slugImage } from '../../layer1/builder/slug.ts';
import type { BuildLogLine, BuildRecord } from '../../layer1/builder/types.ts';
import { BUILD_LABEL } from '../../layer1/builder/run-build.ts';
import { startBuilder, type RunningBuilder } from '../../layer1/builder/worker.ts';
import { findLeaks } from '../helpers/leaks.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { until } from '../helpers/wait.ts';

const STANDIN = resolve(import.meta.dirname, '../fixtures/builder');
const TOKEN = `blobs-${randomBytes(8).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'slwt-builder-'));
const paths: SlipwayPaths = { home: join(dir, 'home'), run: join(dir, 'run'), cache: process.env.SLIPWAY_CACHE ?? '/var/cache/slipway', prefix: testPrefix('b') };
const socketPath = join(paths.run, 'agent.sock');
let redis: TestRedis;
let agentd: RunningAgent;
let agent: AgentClient;
let blobSrv: RunningBlobServer;
let blobs: BlobClient;
let builder: RunningBuilder;
let queue: BuildQueue;
let keyPrefix: string;

/** A git repo with `files`, committed; its `git archive` tar and the commit. */
function source(name: string, files: Record<string, string>): { path: string; commit: string } {
  const repo = join(dir, 'src', name);
  mkdirSync(repo, { recursive: true });
  for (const [f, body] of Object.entries(files)) writeFileSync(join(repo, f), body);
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo }).toString().trim();
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'init');
  const path = join(dir, 'src', `${name}.tar`);
  git('archive', '--format=tar', '-o', path, 'HEAD');
  return { path, commit: git('rev-parse', 'HEAD') };
}

let appN = 0;
const newApp = () => ({ id: `app${++appN}${randomBytes(2).toString('hex')}`, name: `builder-app-${appN}` });

async function buildContainers(): Promise<string[]> {
  return (await agent.listContainers({ all: true, labels: [BUILD_LABEL] })).map((c) => c.Id);
}

before(async () => {
  redis = await startTestRedis();
  keyPrefix = redis.prefix('ctl');
  agentd = await startAgent({ paths, log: silentLogger, importStack: 'await' });
  agent = connectAgent({ socketPath });
  blobSrv = await startBlobServer({ dir: join(paths.home, 'blobs'), port: 0, token: TOKEN });
  blobs = localBlobs(blobSrv.store, { url: blobSrv.url, token: TOKEN });
  builder = await startBuilder({
    redis: redis.url, agent: { socketPath }, blobs, home: paths.home, keyPrefix,
    buildpacksDir: STANDIN, concurrency: 2, memoryBytes: 512 * 2 ** 20, log: silentLogger,
  });
  queue = createBuildQueue({ redis: redis.url, keyPrefix });
});

after(async () => {
  await queue?.close();
  await builder?.close();
  const leftover = agent ? await buildContainers().catch(() => []) : [];
  for (const c of (await agent?.listContainers({ all: true }).catch(() => [])) ?? []) await agent.removeContainer(c.Id, true).catch(() => undefined);
  await agentd?.close();
  await blobSrv?.close();
  await cleanupByPrefix(paths.prefix);
  removeCgroupParent(paths.prefix);
  const leaks = await findLeaks(paths.prefix, { runcRoots: [join(paths.run, 'runc')] });
  await redis?.cleanup();
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leftover, [], 'no build container left');
  assert.deepEqual(leaks, [], 'nothing leaked');
});

/** Follows a build's log, noting when each line arrived. */
function follow(id: string): { lines: (BuildLogLine & { at: number })[]; done: Promise<void> } {
  const lines: (BuildLogLine & { at: number })[] = [];
  const done = (async () => {
    for await (const l of queue.followLog(id)) lines.push({ ...l, at: Date.now() });
  })();
  return { lines, done };
}

describe('builder', { timeout: 240_000 }, () => {
  let built: BuildRecord;

  it('builds: the log arrives line by line while it runs; the record holds the slug and the result', async () => {
    const app = newApp();
    const src = source('ok', { 'message.txt': 'hello from the slug\n', 'server.js': 'console.log(1)\n' });
    const { buildId, position } = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path }, config: { GREETING: 'hi there', EMPTY: '' }, buildpackUrl: 'stand-in' });
    assert.equal(position.ahead, 0);
    const f = follow(buildId);
    const rec = await queue.waitForBuild(buildId, { timeoutMs: 120_000 });
    await f.done;
    const text = f.lines.map((l) => l.line).join('\n');
    assert.equal(rec.state, 'succeeded', text);
    assert.ok(f.lines.length >= 6, text);
    const finished = Date.parse(rec.finishedAt!);
    const early = f.lines.filter((l) => l.at < finished - 1000);
    assert.ok(early.length >= 3, `lines arrived while the build ran (${early.length} more than 1 s before its end)`);
    assert.ok(new Set(f.lines.map((l) => l.at)).size >= 4, 'one by one, not all at once');
    assert.match(text, new RegExp(`Stand-in build of ${src.commit} on stack bookworm`));
    assert.match(text, /registry=https?:\/\/\S+ cafile=\/etc\/ssl\/certs\/slipway-host-ca\.crt ca-present=yes/);
    assert.match(text, /buildpack-url=stand-in/);
    assert.match(text, /env GREETING=hi there/);
    assert.match(text, /env EMPTY=$/m);
    assert.match(text, /cache builds=1/);
    assert.ok(f.lines.some((l) => l.stream === 'stderr' && l.line.includes('to stderr')), 'stderr is kept apart');
    assert.match(f.lines.at(-1)!.line, /succeeded in .* slug [0-9a-f]{12}/);

    assert.equal(rec.app, app.name);
    assert.equal(rec.commit, src.commit);
    assert.ok(rec.slug && /^[0-9a-f]{64}$/.test(rec.slug.blobId) && rec.slug.size > 0);
    assert.ok(await blobs.has(rec.slug.blobId), 'the slug is in the blobstore');
    assert.deepEqual(rec.processTypes, { web: 'cat /app/message.txt' });
    assert.deepEqual(rec.buildpacks, ['stand-in']);
    assert.equal(rec.stack, 'bookworm');
    assert.ok(rec.startedAt && rec.durationMs !== null && rec.durationMs > 0);
    assert.equal(rec.failure, null);
    assert.deepEqual(await buildContainers(), [], 'the build container is gone');
    assert.equal(readFileSync(join(paths.home, 'cache', 'builds', app.id, 'count'), 'utf8').trim(), '1', 'the cache dir is the app\'s, on the host');
    const listed = await queue.store.list(app.id);
    assert.deepEqual(listed.items.map((b) => b.id), [buildId]);
    built = rec;

    // the second build of the app sees the cache of the first
    const again = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { blobId: (await blobs.put(readStream(src.path))).id } });
    const rec2 = await queue.waitForBuild(again.buildId, { timeoutMs: 120_000 });
    assert.equal(rec2.state, 'succeeded');
    const log2: string[] = [];
    for await (const l of queue.followLog(again.buildId)) log2.push(l.line);
    assert.ok(log2.includes('       cache builds=2'), log2.join('\n'));
    assert.deepEqual((await queue.store.list(app.id)).items.map((b) => b.id), [again.buildId, buildId], 'newest first');
  });

  it('a failing build records the failure and its output', async () => {
    const app = newApp();
    const src = source('fail', { FAIL: '1', 'message.txt': 'x' });
    const { buildId } = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path } });
    const rec = await queue.waitForBuild(buildId, { timeoutMs: 120_000 });
    assert.equal(rec.state, 'failed');
    assert.equal(rec.failure?.code, 'build_failed');
    assert.equal(rec.failure?.exitCode, 3);
    assert.equal(rec.slug, null);
    const lines: BuildLogLine[] = [];
    for await (const l of queue.followLog(buildId)) lines.push(l);
    assert.ok(lines.some((l) => l.stream === 'stderr' && l.line.includes('compile error: FAIL marker found')));
    assert.match(lines.at(-1)!.line, /the build failed \(exit code 3\)/);
    assert.deepEqual(await buildContainers(), []);
  });

  it('a cancel stops a running build within 10 s and leaves no container', async () => {
    const app = newApp();
    const src = source('slow', { SLOW: '1' });
    const { buildId } = await queue.enqueueBuild({ app, commit: src.commit, sourceTar: { path: src.path } });
    const f = follow(buildId);
    await until('the build to run', () => f.lines.some((l) => l.line.includes('sleeping')), 60_000);
    assert.equal((await queue.getBuild(buildId))?.state, 'building');
    assert.equal((await buildContainers()).length, 1);
    const t0 = Date.now();
    await queue.cancelBuild(buildId);
    const rec = await queue.waitForBuild(buildId, { timeoutMs: 10_000 });
    const ms = Date.now() - t0;
    assert.equal(rec.state, 'cancelled');
    assert.equal(rec.failure?.code, 'cancelled');
    assert.ok(ms < 10_000, `cancelled in ${ms} ms`);
    await f.done;
    assert.deepEqual(await buildContainers(), [], 'no container left');
    // cancelling an ended build changes nothing
    assert.equal((await queue.cancelBuild(buildId)).state, 'cancelled');
  });

  it('one build at a time per app: the second waits and is told so; a queued one cancels at once', async () => {
    const app = newApp();
    const other = newApp();
    const a = source('seq-a', { SLEEP: '3', 'message.txt': 'a' });
    const b = source('seq-b', { 'message.txt': 'b' });
    const first = await queue.enqueueBuild({ app, commit: a.commit, sourceTar: { path: a.path } });
    const second = await queue.enqueueBuild({ app, commit: b.commit, sourceTar: { path: b.path } });
    const third = await queue.enqueueBuild({ app, commit: b.commit, sourceTar: { path: b.path } });
    const elsewhere = await queue.enqueueBuild({ app: other, commit: b.commit, sourceTar: { path: b.path } });
    assert.deepEqual(second.position, { state: 'pending', ahead: 1, blockedBy: first.buildId });
    assert.equal(third.position.ahead, 2);
    assert.equal(elsewhere.position.ahead, 0, 'another app does not wait');
    const f2 = follow(second.buildId);
    await until('the first build to run', async () => (await queue.getBuild(first.buildId))?.state === 'building', 60_000);
    assert.equal((await queue.position(second.buildId)).state, 'pending');
    // a queued build cancels at once, and the queue closes up behind it
    const c = await queue.cancelBuild(third.buildId);
    assert.equal(c.state, 'cancelled');
    assert.equal((await queue.position(second.buildId)).ahead, 1);

    const r1 = await queue.waitForBuild(first.buildId, { timeoutMs: 120_000 });
    const r2 = await queue.waitForBuild(second.buildId, { timeoutMs: 120_000 });
    const ro = await queue.waitForBuild(elsewhere.buildId, { timeoutMs: 120_000 });
    await f2.done;
    assert.equal(r1.state, 'succeeded');
    assert.equal(r2.state, 'succeeded');
    assert.equal(ro.state, 'succeeded');
    assert.ok(Date.parse(r2.startedAt!) >= Date.parse(r1.finishedAt!), 'the second started after the first ended');
    assert.ok(Date.parse(ro.startedAt!) < Date.parse(r1.finishedAt!), 'the other app built meanwhile');
    assert.match(f2.lines[0]!.line, /waiting for 1 earlier build of builder-app-\d+ to finish/);
    assert.equal(f2.lines[0]!.stream, 'system');
    assert.deepEqual((await queue.store.queuedApps()).filter((x) => x === app.id), [], 'the app\'s queue is empty');
  });

  it('the slug imports into an agent through its signed URL, over the stack, and runs', async () => {
    assert.ok(built?.slug, 'the first test built a slug');
    const img = slugImage(built, blobs);
    assert.equal(img.image, `slipway/slug:${built.slug.blobId.slice(0, 12)}`);
    assert.equal(img.imageParent, 'slipway/stack:bookworm');
    assert.ok(img.imageUrl.startsWith(`${blobSrv.url}/blobs/${built.slug.blobId}?exp=`) && !img.imageUrl.includes(TOKEN));
    await ensureImage(agent, img as unknown as JobSpec);
    const inspected = await agent.inspectImage(img.image);
    assert.ok(inspected.Id);
    const id = await agent.createContainer({
      Image: img.image, User: '10001', WorkingDir: '/app',
      Cmd: ['bash', '-c', 'cat /app/message.txt; stat -c "%u %n" /app /app/message.txt; cat /app/Procfile; node --version >/dev/null && echo stack-ok'],
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      await agent.startContainer(id);
      assert.equal(await agent.waitContainer(id), 0);
      let out = '';
      for await (const c of agent.logs(id)) out += c.data.toString();
      assert.match(out, /hello from the slug/);
      assert.match(out, /10001 \/app\n10001 \/app\/message\.txt/);
      assert.match(out, /web: cat \/app\/message\.txt/);
      assert.match(out, /stack-ok/);
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

function readStream(path: string) {
  assert.ok(existsSync(path));
  return (async function* () {
    yield readFileSync(path);
  })();
}
