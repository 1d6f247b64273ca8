// Releases from images as a hostile tenant makes them (issue 13, M3): an app releases only images
// it owns (imported by itself, or of its own releases), never an image id or id prefix nor another
// app's image; an imported image gets a name of the importing app's own; `imageUrl` passes the URL
// policy (https, or http only to hosts the operator allows; no loopback, link-local or private
// address); and the agent that fetches it checks the address again at connect time and caps the
// bytes it fetches and unpacks (413: a gzip bomb stops at the cap). An image URL's query (a slug
// URL's signature) is never shown back through the API (L5, in part).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { connectAgent } from '../../layer0/agent/client.ts';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import { createDeploy, type Deploy } from '../../layer1/controller/deploy/index.ts';
import { startTestAgent, type TestAgent } from '../helpers/agent.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';

const WEB = 'httpd -f -p $PORT';
let redis: TestRedis;
let scheduler: ReturnType<typeof createSchedulerClient>;
let deploy: Deploy;
let c: TestController;
let agent: TestAgent;
let files: Server;
let filesUrl = '';
let alice = '';
let mallory = '';
let evilId = '';

const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024)); // 64 MiB of zeros in ~64 KiB
const big = randomBytes(3 * 1024 * 1024);

before(async () => {
  delete process.env.SLIPWAY_URL_ALLOW;
  redis = await startTestRedis();
  scheduler = createSchedulerClient({ redisUrl: redis.url, keyPrefix: redis.prefix('l0s') });
  const ctlPrefix = redis.prefix('ctl');
  // The deploy core, never started: releases are recorded and queued, nothing runs.
  deploy = createDeploy({ redis: redis.url, keyPrefix: ctlPrefix, scheduler });
  c = await startTestController({ redis, keyPrefix: ctlPrefix, deploy: { deploy, scheduler } });
  alice = await c.user('alice');
  mallory = await c.user('mallory');
  assert.equal((await c.request('POST', '/v1/apps', { token: alice, body: { name: 'shop' } })).status, 201);
  const evil = await c.request('POST', '/v1/apps', { token: mallory, body: { name: 'evil' } });
  evilId = evil.body.id;
  agent = await startTestAgent({ suffix: 'ri' });
  files = createServer((req, res) => {
    if (req.url === '/bb.tar') {
      res.writeHead(200, { 'content-length': statSync(agent.busyboxTar).size });
      createReadStream(agent.busyboxTar).pipe(res);
    } else if (req.url === '/bomb.tar.gz') res.end(bomb);
    else if (req.url === '/big.tar') res.end(big); // with Content-Length
    else if (req.url === '/bb-chunked.tar') createReadStream(agent.busyboxTar).pipe(res); // a real tar, chunked: no length to check first
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `http://127.0.0.1:${(files.address() as { port: number }).port}`;
});

after(async () => {
  delete process.env.SLIPWAY_URL_ALLOW;
  delete process.env.SLIPWAY_IMAGE_MAX_BYTES;
  delete process.env.SLIPWAY_IMAGE_URL_MAX_BYTES;
  await new Promise<void>((r) => (files ? files.close(() => r()) : r()));
  await agent?.cleanup();
  await c?.close();
  await deploy?.close();
  scheduler?.close();
  await redis?.cleanup();
});

const release = (app: string, token: string, body: Record<string, unknown>) => c.request('POST', `/v1/apps/${app}/releases`, { token, body: { procfile: { web: WEB }, ...body } });

describe('API releases run only images the app owns (M3)', { timeout: 120_000 }, () => {
  it('refuses image ids, other apps\' images and foreign parents', async () => {
    for (const image of ['abcd', '0123456789ab', `sha256:${'a'.repeat(64)}`, 'slipway/slug:0123456789ab', 'slipway/stack', 'bb:1']) {
      const r = await release('evil', mallory, { image });
      assert.equal(r.status, 422, `${image}: ${r.text}`);
      assert.match(r.body.error.message, /image id|is not an image of evil/, image);
    }
    // the stack, every app's base, is every app's to run
    assert.equal((await release('evil', mallory, { image: 'slipway/stack:bookworm' })).status, 201);
    const parent = await release('evil', mallory, { image: 'x:1', imageUrl: 'https://example.invalid/x.tar', imageParent: 'slipway/slug:0123456789ab' });
    assert.equal(parent.status, 422);
    assert.match(parent.body.error.message, /only a stack/);
  });

  it('imageUrl passes the URL policy: https, or http to allowed hosts; never a private address', async () => {
    for (const imageUrl of [`${filesUrl}/bb.tar`, 'http://example.com/x.tar', 'https://127.0.0.1/x.tar', 'https://169.254.169.254/latest', 'https://10.1.2.3/x.tar', 'https://[::1]/x.tar', 'https://localhost/x.tar']) {
      const r = await release('evil', mallory, { image: 'bb:1', imageUrl });
      assert.equal(r.status, 422, `${imageUrl}: ${r.text}`);
      assert.match(r.body.error.message, /imageUrl/);
    }
    assert.equal((await release('evil', mallory, { image: 'bb:1', imageUrl: 'file:///etc/passwd' })).status, 422);
  });

  it('an imported image is named for the importing app; no other app can release it by any name', async () => {
    process.env.SLIPWAY_URL_ALLOW = '127.0.0.1'; // the operator allows the test's file server
    try {
      const r = await release('evil', mallory, { image: 'bb:1', imageUrl: `${filesUrl}/bb.tar` });
      assert.equal(r.status, 201, r.text);
      const image: string = r.body.release.image;
      assert.match(image, new RegExp(`^slipway/import-${evilId}:[0-9a-f]{16}$`));
      assert.equal(r.body.release.reason, 'Deploy bb:1');
      // the same app names it again without the URL: its own import
      const again = await release('evil', mallory, { image: 'bb:1' });
      assert.equal(again.status, 201, again.text);
      assert.equal(again.body.release.image, image);
      // another app: neither by the name evil gave it nor by evil's name for it
      assert.equal((await release('shop', alice, { image: 'bb:1' })).status, 422);
      assert.equal((await release('shop', alice, { image })).status, 422);
      // shop's own import of the same URL is shop's own name, not evil's tag
      const own = await release('shop', alice, { image: 'bb:1', imageUrl: `${filesUrl}/bb.tar` });
      assert.equal(own.status, 201, own.text);
      assert.notEqual(own.body.release.image, image);
      // L5: a URL's query (a signature, a pre-signed credential) is never shown back through the API
      const signed = await release('shop', alice, { image: 'bb:2', imageUrl: `${filesUrl}/bb.tar?sig=s3cr3t` });
      assert.equal(signed.status, 201, signed.text);
      assert.equal(signed.body.release.imageUrl, `${filesUrl}/bb.tar?…`);
      const listed = await c.request('GET', '/v1/apps/shop/releases', { token: alice });
      assert.ok(!listed.text.includes('s3cr3t'), listed.text);
      assert.ok(!(await c.request('GET', `/v1/apps/shop/releases/${signed.body.release.version}`, { token: alice })).text.includes('s3cr3t'));
    } finally {
      delete process.env.SLIPWAY_URL_ALLOW;
    }
  });
});

describe('the agent fetches a tenant\'s image URL under the policy and byte caps (M3)', { timeout: 120_000 }, () => {
  const client = () => connectAgent({ socketPath: agent.socketPath });
  const refused = async (p: Promise<unknown>): Promise<{ status: number; message: string }> => {
    try {
      await p;
    } catch (err) {
      const e = err as { statusCode?: number; json?: { message?: string }; message: string };
      return { status: e.statusCode ?? 0, message: e.json?.message ?? e.message };
    }
    assert.fail('the import was accepted');
  };

  it('an untrusted URL to a loopback address is refused at connect time; a trusted one (the platform\'s own) is not', async () => {
    const r = await refused(client().importImageFromUrl(`${filesUrl}/bb.tar`, { repo: 'tenant', tag: '1', untrusted: true }));
    assert.equal(r.status, 422, r.message);
    assert.match(r.message, /loopback, link-local or private/);
    const byName = await refused(client().importImageFromUrl(`${filesUrl.replace('127.0.0.1', 'localhost')}/bb.tar`, { repo: 'tenant', tag: '2', untrusted: true }));
    assert.equal(byName.status, 422, byName.message);
    assert.ok(await client().importImageFromUrl(`${filesUrl}/bb.tar`, { repo: 'platform', tag: '1' }));
  });

  it('caps what it fetches (413, with or without Content-Length) and what it unpacks (a gzip bomb: 413)', async () => {
    const tarBytes = statSync(agent.busyboxTar).size;
    assert.ok(tarBytes > 256 * 1024 && big.length > tarBytes, `busybox tar of ${tarBytes} bytes`);
    process.env.SLIPWAY_IMAGE_URL_MAX_BYTES = String(Math.floor(tarBytes / 2));
    process.env.SLIPWAY_IMAGE_MAX_BYTES = String(16 * 1024 * 1024);
    try {
      for (const path of ['/big.tar', '/bb-chunked.tar']) {
        const r = await refused(client().importImageFromUrl(`${filesUrl}${path}`, { repo: 'big', tag: '1' }));
        assert.equal(r.status, 413, `${path}: ${r.status} ${r.message}`);
        assert.match(r.message, /bytes/);
      }
      const r = await refused(client().importImageFromUrl(`${filesUrl}/bomb.tar.gz`, { repo: 'bomb', tag: '1' }));
      assert.equal(r.status, 413, r.message);
      assert.match(r.message, /uncompressed/);
    } finally {
      delete process.env.SLIPWAY_IMAGE_URL_MAX_BYTES;
      delete process.env.SLIPWAY_IMAGE_MAX_BYTES;
    }
  });
});
