// M1 (issue 13): the build is the app's code, so it runs as `app` and the platform never acts on
// paths it controls. Through the builder's own runBuild (a real agent, runc, the stack, the real
// driver) with an inline buildpack that plays the hostile build: every process of the build,
// the driver (PID 1) included, is uid 10001 with no effective capabilities; symlinks planted at
// the result paths (and re-planted by a process left running) are never written through; a
// setuid file written into the build cache loses its bit on the host and runs as 10001 in the
// next build, as does a root-owned setuid file an older build left there; the slug's entries
// belong to 10001:10001, so the app may write under /app at run time.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectAgent, type AgentClient } from '../../layer0/agent/client.ts';
import { startAgent, type RunningAgent } from '../../layer0/agent/daemon.ts';
import { silentLogger } from '../../layer0/common/logger.ts';
import type { SlipwayPaths } from '../../layer0/common/paths.ts';
import { cleanupByPrefix } from '../../layer0/network/index.ts';
import { removeCgroupParent } from '../../layer0/runtime/index.ts';
import { localBlobs, type BlobClient } from '../../layer1/blobstore/client.ts';
import { startBlobServer, type RunningBlobServer } from '../../layer1/blobstore/server.ts';
import { buildCacheDir } from '../../layer1/builder/cache.ts';
import { DEFAULT_REGISTRY, hostCaBundle } from '../../layer1/builder/host-env.ts';
import { runBuild, type BuildRun, type RunBuildDeps } from '../../layer1/builder/run-build.ts';
import { DEFAULT_BUILDPACKS_DIR, DEFAULT_DRIVER } from '../../layer1/builder/worker.ts';
import { listTar } from '../helpers/build.ts';
import { findLeaks } from '../helpers/leaks.ts';
import { testPrefix } from '../helpers/runtime.ts';

const dir = mkdtempSync(join(tmpdir(), 'slwt-sandbox-'));
const paths: SlipwayPaths = { home: join(dir, 'home'), run: join(dir, 'run'), cache: process.env.SLIPWAY_CACHE ?? '/var/cache/slipway', prefix: testPrefix('sb') };
let agentd: RunningAgent;
let agent: AgentClient;
let blobSrv: RunningBlobServer;
let blobs: BlobClient;
let deps: RunBuildDeps;

before(async () => {
  agentd = await startAgent({ paths, log: silentLogger, importStack: 'await' });
  agent = connectAgent({ socketPath: join(paths.run, 'agent.sock') });
  const token = randomBytes(8).toString('hex');
  blobSrv = await startBlobServer({ dir: join(paths.home, 'blobs'), port: 0, token });
  blobs = localBlobs(blobSrv.store, { url: blobSrv.url, token });
  deps = {
    agent, blobs, host: { npmRegistry: DEFAULT_REGISTRY, caBundle: hostCaBundle() }, buildpacksDir: DEFAULT_BUILDPACKS_DIR,
    home: paths.home, image: 'slipway/stack:bookworm', stack: 'bookworm', driver: DEFAULT_DRIVER,
    memoryBytes: 512 * 2 ** 20, pidsLimit: 1024, timeoutMs: 180_000, appUid: 10001,
  };
});

after(async () => {
  for (const c of (await agent?.listContainers({ all: true }).catch(() => [])) ?? []) await agent.removeContainer(c.Id, true).catch(() => undefined);
  await agentd?.close();
  await blobSrv?.close();
  await cleanupByPrefix(paths.prefix);
  removeCgroupParent(paths.prefix);
  const leaks = await findLeaks(paths.prefix, { runcRoots: [join(paths.run, 'runc')] });
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leaks, [], 'nothing leaked');
});

/** An app that is its own buildpack (BUILDPACK_URL=.) running `compile` as the hostile build step. */
function hostileApp(name: string, compile: string): { path: string; commit: string } {
  const repo = join(dir, 'src', name);
  mkdirSync(join(repo, 'bin'), { recursive: true });
  writeFileSync(join(repo, 'bin', 'detect'), '#!/bin/sh\necho Hostile\n', { mode: 0o755 });
  writeFileSync(join(repo, 'bin', 'compile'), `#!/bin/bash\nset -u\nCACHE=$2\n${compile}\n`, { mode: 0o755 });
  writeFileSync(join(repo, 'Procfile'), 'web: sleep 1000\n');
  const git = (...a: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', ...a], { cwd: repo }).toString().trim();
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'x');
  const path = join(dir, 'src', `${name}.tar`);
  git('archive', '--format=tar', '-o', path, 'HEAD');
  return { path, commit: git('rev-parse', 'HEAD') };
}

let n = 0;
async function build(appId: string, src: { path: string; commit: string }): Promise<BuildRun & { text: string }> {
  const lines: string[] = [];
  const r = await runBuild(deps, {
    id: `b_sandbox${++n}${randomBytes(3).toString('hex')}`, appId, appName: appId, commit: src.commit,
    request: { sourceTar: { path: src.path }, config: {}, buildpackUrl: '.' },
  }, (_s, l) => void lines.push(...l), new AbortController().signal);
  return { ...r, text: lines.join('\n') };
}

describe('the build sandbox (M1)', { timeout: 400_000 }, () => {
  it('every build process, the driver (PID 1) included, is uid 10001 with no effective capabilities', async () => {
    const r = await build('sandbox-uid', hostileApp('uid', [
      'echo "compile uid=$(id -u) gid=$(id -g)"',
      'echo "compile $(grep CapEff /proc/self/status | tr -s "\\t " " ")"',
      'echo "driver $(grep ^Uid: /proc/1/status | tr -s "\\t " " ")"',
      'echo "driver $(grep CapEff /proc/1/status | tr -s "\\t " " ")"',
      'touch /etc/written-by-build 2>/dev/null && echo "etc writable" || echo "etc not writable"',
    ].join('\n')));
    assert.equal(r.ok, true, r.text);
    assert.match(r.text, /compile uid=10001 gid=10001/);
    assert.match(r.text, /compile CapEff: 0000000000000000/);
    assert.match(r.text, /driver Uid: 10001 10001 10001 10001/);
    assert.match(r.text, /driver CapEff: 0000000000000000/);
    assert.match(r.text, /etc not writable/);
  });

  it('symlinks planted at the result paths (and re-planted by a process left running) are not written through', async () => {
    const appId = 'sandbox-links';
    const r = await build(appId, hostileApp('links', [
      'mkdir -p /tmp/out',
      'for f in result.json.tmp slug.tgz.tmp result.json slug.tgz; do ln -sfn "/tmp/cache/pwned-$f" "/tmp/out/$f"; done',
      // A process that outlives compile and keeps re-planting the links while the driver finishes.
      'setsid bash -c \'while :; do ln -sfn /tmp/cache/pwned-late /tmp/out/result.json.tmp 2>/dev/null; ln -sfn /tmp/cache/pwned-late-slug /tmp/out/slug.tgz.tmp 2>/dev/null; sleep 0.01; done\' </dev/null >/dev/null 2>&1 &',
      'sleep 0.5',
      'echo planted',
    ].join('\n')));
    assert.equal(r.ok, true, r.text);
    assert.match(r.text, /planted/);
    assert.deepEqual(r.result?.processTypes, { web: 'sleep 1000' }, 'result.json was read from the fresh /tmp/out');
    const cache = buildCacheDir(paths.home, appId);
    for (const f of ['result.json.tmp', 'slug.tgz.tmp', 'result.json', 'slug.tgz', 'late', 'late-slug']) {
      assert.ok(!existsSync(join(cache, `pwned-${f}`)), `nothing was written through the link to pwned-${f}`);
    }
  });

  it('a setuid file written into the cache loses its bit and runs as 10001 next build; so does a root-owned one left by an older build; the slug belongs to 10001', async () => {
    const appId = 'sandbox-suid';
    const first = await build(appId, hostileApp('suid1', [
      'cp /usr/bin/id "$CACHE/suid-id" && chmod 6755 "$CACHE/suid-id" && echo "made $(stat -c %a "$CACHE/suid-id")"',
    ].join('\n')));
    assert.equal(first.ok, true, first.text);
    assert.match(first.text, /made 6755/, 'the build could set the bit on its own file');
    const cache = join(buildCacheDir(paths.home, appId), 'inline');
    const mode = statSync(join(cache, 'suid-id')).mode;
    assert.equal(mode & 0o6000, 0, `the host keeps no setuid/setgid bit (mode ${(mode & 0o7777).toString(8)})`);

    // A root-owned setuid file, as a build that ran as root could have left.
    copyFileSync('/usr/bin/id', join(cache, 'root-suid-id'));
    chownSync(join(cache, 'root-suid-id'), 0, 0);
    chmodSync(join(cache, 'root-suid-id'), 0o4755);
    const second = await build(appId, hostileApp('suid2', [
      'echo "app-made euid=$("$CACHE/suid-id" -u) mode=$(stat -c %a "$CACHE/suid-id")"',
      'echo "root-made euid=$("$CACHE/root-suid-id" -u) owner=$(stat -c %u "$CACHE/root-suid-id") mode=$(stat -c %a "$CACHE/root-suid-id")"',
      'chmod 4755 "$CACHE/suid-id"; echo "mount $(grep " /tmp/cache " /proc/self/mountinfo | grep -o "nosuid" | head -1) $(grep " /tmp/cache " /proc/self/mountinfo | grep -o "nodev" | head -1)"',
      'mkdir -p data && echo x > data/file && chmod 4755 data/file',
    ].join('\n')));
    assert.equal(second.ok, true, second.text);
    assert.match(second.text, /app-made euid=10001 mode=755/);
    assert.match(second.text, /root-made euid=10001 owner=10001 mode=755/);
    assert.match(second.text, /mount nosuid nodev/);
    assert.equal(statSync(join(cache, 'suid-id')).mode & 0o6000, 0, 'cleared again after the build');

    const slug = join(dir, 'slug.tgz');
    const chunks: Buffer[] = [];
    for await (const c of await blobs.get(second.slug!.blobId)) chunks.push(c as Buffer);
    writeFileSync(slug, Buffer.concat(chunks));
    const entries = await listTar(slug);
    assert.ok(entries.has('app/data/file') && entries.has('app/Procfile'), [...entries.keys()].join(' '));
    for (const [p, e] of entries) assert.ok(e.uid === 10001 && e.gid === 10001, `${p} is owned by ${e.uid}:${e.gid}`);
    for (const [p, e] of entries) assert.equal(e.mode & 0o6000, 0, `${p} has no setuid/setgid bit`);
  });
});
