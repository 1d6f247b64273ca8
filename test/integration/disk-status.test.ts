// A platform that survives its own disk (issue 6): the agent's image prune (unused slug images
// except the kept ones; never the stack, never an image in use), the controller's collector
// (unreferenced slugs, slug images of releases no longer kept, build caches of deleted apps),
// `DELETE /v1/apps/:app/build-cache` (deploy role, audited), and `GET /v1/status` with its
// admin and filtered views, through `slipway status`; the agent's own collector (container dirs
// no container owns) and `docker image prune` against the agent.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { connectAgent } from '../../layer0/agent/client.ts';
import { silentLogger } from '../../layer0/common/logger.ts';
import { BlobStore } from '../../layer1/blobstore/index.ts';
import { opsRoutes, startDiskCollector } from '../../layer1/controller/ops/index.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { until } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const WEB = "sh -c 'httpd -f -p $PORT -h /'";

const home = mkdtempSync(join(tmpdir(), 'slwt-disk-home-'));
let p: TestPlatform;
let blobs: BlobStore;
const api = (method: string, path: string, token: string, body?: unknown) => p.request(method, `/v1${path}`, { token, body });

before(async () => {
  p = await startTestPlatform({
    hosts: 1, home,
    routes: (deps, l0) => opsRoutes(deps, { home, ...l0, routerNotReady: () => null }),
  });
  blobs = await BlobStore.open(join(p.home, 'blobs'));
  // A container dir no container owns (a create cut short by a crash): the agent's collector
  // removes it on its first pass, 5 s after start.
  mkdirSync(join(leftover(), 'upper', 'tmp'), { recursive: true });
  writeFileSync(join(leftover(), 'upper', 'tmp', 'junk'), 'x'.repeat(4096));
});

const leftover = () => join(p.hosts[0]!.paths.home, 'containers', 'f'.repeat(64));

after(async () => {
  assert.deepEqual(await p?.close(), []);
  rmSync(home, { recursive: true, force: true });
});

async function appId(name: string): Promise<string> {
  return (await api('GET', `/apps/${name}`, p.adminToken)).body.id as string;
}

describe('disk collection and status', () => {
  it('purges an app build cache (deploy role, audited)', async () => {
    assert.equal((await api('POST', '/apps', p.adminToken, { name: 'cached' })).status, 201);
    const cache = join(p.home, 'cache', 'builds', await appId('cached'));
    mkdirSync(join(cache, 'node_modules'), { recursive: true });
    writeFileSync(join(cache, 'node_modules', 'x.js'), 'x');
    const viewer = await p.user('vic', { app: 'cached', grant: 'view' });
    assert.equal((await api('DELETE', '/apps/cached/build-cache', viewer)).status, 403);
    assert.ok(existsSync(cache));
    const deployer = await p.user('dee', { app: 'cached', grant: 'deploy' });
    assert.equal((await api('DELETE', '/apps/cached/build-cache', deployer)).status, 204);
    assert.ok(!existsSync(cache));
    assert.equal((await api('DELETE', '/apps/cached/build-cache', deployer)).status, 204, 'idempotent');
    const audit = await api('GET', '/audit?app=cached', p.adminToken);
    assert.ok(audit.body.items.some((e: { method: string; path: string }) => e.method === 'DELETE' && e.path.endsWith('/build-cache')), JSON.stringify(audit.body));
  });

  it('collects slugs, slug images and caches that nothing keeps; never the stack or an image in use', { timeout: 60_000 }, async () => {
    const agent = connectAgent({ socketPath: join(p.hosts[0]!.paths.run, 'agent.sock') });
    const importAs = async (ref: string) => {
      const [repo, tag] = ref.split(':');
      await agent.importImageFromUrl(p.imageUrl, { repo, tag });
    };
    const kept = await blobs.put(Readable.from([Buffer.from('slug of a kept release')]));
    const dropped = await blobs.put(Readable.from([Buffer.from('slug of a release long gone')]));
    for (const ref of [`slipway/slug:${kept.id.slice(0, 12)}`, `slipway/slug:${dropped.id.slice(0, 12)}`, 'slipway/stack:bookworm']) await importAs(ref);

    // App `keeper` has a release that refers to the kept slug; `gone` is deleted with its cache.
    assert.equal((await api('POST', '/apps', p.adminToken, { name: 'keeper' })).status, 201);
    assert.equal((await api('POST', '/apps', p.adminToken, { name: 'gone' })).status, 201);
    const keeperId = await appId('keeper');
    const goneId = await appId('gone');
    await p.controller.redis.hset(`${p.controller.store.keys.prefix}app:${keeperId}:releases`, '1', JSON.stringify({ imageUrl: `http://127.0.0.1:1/blobs/${kept.id}?exp=1&sig=x` }));
    for (const id of [keeperId, goneId]) mkdirSync(join(p.home, 'cache', 'builds', id), { recursive: true });
    assert.equal((await api('DELETE', '/apps/gone', p.adminToken)).status, 204);
    // An image in use by a container is never pruned, even a slug one.
    const inUse = await agent.createContainer({ Image: `slipway/slug:${dropped.id.slice(0, 12)}`, Cmd: ['true'] });

    const collector = startDiskCollector({
      store: p.controller.store, redis: p.controller.redis, keyPrefix: p.controller.store.keys.prefix, home: p.home, blobs, graceMs: 0,
      discovery: p.discovery, agentToken: 'platform-test-token', log: silentLogger, firstDelayMs: 3_600_000,
    });
    try {
      let r = await collector.collect();
      assert.equal(r.slugs.deleted, 1);
      assert.ok(await blobs.has(kept.id));
      assert.ok(!(await blobs.has(dropped.id)));
      assert.deepEqual(r.buildCaches.deleted, [goneId]);
      assert.ok(existsSync(join(p.home, 'cache', 'builds', keeperId)));
      assert.equal(r.images.hosts, 1);
      assert.equal(r.images.deleted, 0, 'the unkept slug image is in use');
      await agent.removeContainer(inUse, true);
      r = await collector.collect();
      assert.equal(r.images.deleted, 1);
      const tags = (await agent.listImages()).flatMap((i) => i.RepoTags ?? []);
      assert.ok(tags.includes(`slipway/slug:${kept.id.slice(0, 12)}`), tags.join());
      assert.ok(!tags.includes(`slipway/slug:${dropped.id.slice(0, 12)}`), tags.join());
      assert.ok(tags.includes('slipway/stack:bookworm'), 'never the stack');
    } finally {
      collector.close();
    }
  });

  it('shows the platform: everything to an admin, only their apps to others; `slipway status`', { timeout: 60_000 }, async () => {
    assert.equal((await api('POST', '/apps', p.adminToken, { name: 'shown' })).status, 201);
    const rel = await api('POST', '/apps/shown/releases?wait=true', p.adminToken, { image: 'bb:1', imageUrl: p.imageUrl, procfile: { web: WEB } });
    assert.equal(rel.status, 201, rel.text);
    const s = await until('the process running in status', async () => {
      const r = await api('GET', '/status', p.adminToken);
      return r.body.processes?.find((x: { app: string }) => x.app === 'shown')?.running === 1 ? r.body : null;
    }, 20_000);
    assert.equal(s.hosts.length, 1);
    assert.equal(s.hosts[0].running, 1);
    assert.ok(s.disk.filesystem.freeBytes > 0);
    const comp = Object.fromEntries(s.components.map((c: { name: string; ok: boolean }) => [c.name, c.ok]));
    assert.equal(comp.redis, true);
    assert.equal(comp.scheduler, true);
    assert.equal(comp.agents, true);
    assert.deepEqual(s.builds, { running: [], waiting: [] });

    const other = await p.user('olga', { app: 'cached', grant: 'view' });
    const mine = (await api('GET', '/status', other)).body;
    assert.equal(mine.disk, null);
    assert.equal(mine.hosts, null);
    assert.deepEqual(mine.processes, []);
    assert.equal((await api('GET', '/status', '')).status, 401);

    const env = { ...process.env, SLIPWAY_URL: p.url, SLIPWAY_TOKEN: p.adminToken, NO_COLOR: '1' };
    const json = JSON.parse((await execFileP(process.execPath, [BIN, 'status', '--json'], { env })).stdout);
    assert.equal(json.hosts.length, 1);
    const table = (await execFileP(process.execPath, [BIN, 'status'], { env })).stdout;
    assert.match(table, /Components/);
    assert.match(table, /free on the filesystem/);
    assert.match(table, /shown\s+1\s+0\s+0/);
    const purge = await execFileP(process.execPath, [BIN, 'builds:cache:purge', '-a', 'shown'], { env });
    assert.match(purge.stdout, /build cache of shown purged/);
  });

  it("the agent collects leftover container dirs; docker's image prune works against it", { timeout: 30_000 }, async () => {
    await until('the leftover container dir collected', () => !existsSync(leftover()), 20_000, 200);
    const docker = await execFileP('docker', ['-H', `unix://${join(p.hosts[0]!.paths.run, 'agent.sock')}`, 'image', 'prune', '-f'], { timeout: 20_000 });
    assert.match(docker.stdout, /Total reclaimed space/);
  });
});
