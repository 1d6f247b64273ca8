// Issue 13 M5 and H5 (API and router side): what one tenant may hold is bounded, and over a bound
// is a clear 429/413/422/408. Against a whole in-process platform (real Redis, agents running
// busybox one-offs, the scheduler, the controller) with small limits set the operator's way
// (SLIPWAY_… in the environment): apps per owner, open follows per token and per app (logs and
// events), one-offs per app, the log tail in bytes, the log settings an owner may set; and
// beside it: build logs within their byte budget, a gzip bomb slug refused while it streams, a
// git push over the pack cap refused with a `remote:` line, and a router head trickled a byte at
// a time cut at its deadline (it used to reset on every byte).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { silentLogger } from '../../layer0/common/logger.ts';
import { localBlobs } from '../../layer1/blobstore/client.ts';
import { BlobStore } from '../../layer1/blobstore/store.ts';
import { readOutputs } from '../../layer1/builder/container-files.ts';
import { BuildStore } from '../../layer1/builder/store.ts';
import type { PushPipeline } from '../../layer1/gitreceiver/types.ts';
import { createProxy } from '../../layer1/router/proxy/index.ts';
import type { RouteMatch, RouteTable } from '../../layer1/router/types.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { sleep, until } from '../helpers/wait.ts';

// The operator's settings, read when the controller starts (small, so the test reaches them).
Object.assign(process.env, {
  SLIPWAY_MAX_APPS_PER_OWNER: '2',
  SLIPWAY_MAX_ONE_OFFS_PER_APP: '1',
  SLIPWAY_MAX_FOLLOWS_PER_APP: '3',
  SLIPWAY_MAX_FOLLOWS_PER_TOKEN: '2',
  SLIPWAY_LOG_TAIL_MAX_BYTES: '256K',
  SLIPWAY_LOG_MAX_BYTES: '1M',
  SLIPWAY_LOG_MAX_LINES: '5000',
  SLIPWAY_CONFIG_MAX_BYTES: '64K',
});

const tag = process.env.SLIPWAY_TEST_PREFIX ?? 'slwt';
const work = mkdtempSync(join(tmpdir(), `${tag}-limits-`));
let p: TestPlatform;
let ann = '';
const api = <T = any>(method: string, path: string, token: string, body?: unknown) => p.request<T>(method, `/v1${path}`, { token, body });

interface Open {
  status: Promise<number>;
  body: Promise<string>;
  close(): void;
}
/** A request kept open (a follow, a one-off): its status once the head comes, its body when it ends. */
function open(method: string, path: string, token: string, body?: unknown): Open {
  let req!: ClientRequest;
  let text = '';
  let done!: (s: string) => void;
  const ended = new Promise<string>((r) => (done = r));
  const status = new Promise<number>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    req = httpRequest({ host: '127.0.0.1', port: p.port, method, path: `/v1${path}`, headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      resolve(res.statusCode ?? 0);
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('close', () => done(text));
      res.on('error', () => undefined);
    });
    req.on('error', (err) => (req.destroyed ? done(text) : reject(err)));
    req.end(payload);
  });
  return { status, body: ended, close: () => req.destroy() };
}

before(async () => {
  p = await startTestPlatform({ hosts: 1 });
  ann = await p.user('ann');
});

after(async () => {
  const leaks = await p?.close();
  rmSync(work, { recursive: true, force: true });
  assert.deepEqual(leaks ?? [], []);
});

describe('tenant limits (issue 13 M5, H5)', { timeout: 240_000 }, () => {
  it('an owner creates at most SLIPWAY_MAX_APPS_PER_OWNER apps (429 names the setting); an admin is not limited', async () => {
    assert.equal((await api('POST', '/apps', ann, { name: 'ann-one' })).status, 201);
    assert.equal((await api('POST', '/apps', ann, { name: 'ann-two' })).status, 201);
    const third = await api('POST', '/apps', ann, { name: 'ann-three' });
    assert.equal(third.status, 429, third.text);
    assert.equal(third.body.error.code, 'too_many_requests');
    assert.match(third.body.error.message, /SLIPWAY_MAX_APPS_PER_OWNER/);
    assert.equal((await api('DELETE', '/apps/ann-two', ann)).status, 204);
    assert.equal((await api('POST', '/apps', ann, { name: 'ann-three' })).status, 201, 'a deleted app frees its place');
    for (const n of ['adm-one', 'adm-two', 'adm-three']) assert.equal((await api('POST', '/apps', p.adminToken, { name: n })).status, 201);
  });

  it('log settings beyond the operator\'s caps are 422; within them they apply', async () => {
    const big = await api('PATCH', '/apps/ann-one/log-settings', ann, { maxBytes: 2 * 2 ** 20 });
    assert.equal(big.status, 422, big.text);
    assert.match(big.body.error.message, /SLIPWAY_LOG_MAX_BYTES/);
    const lines = await api('PATCH', '/apps/ann-one/log-settings', ann, { maxLines: 6000 });
    assert.equal(lines.status, 422, lines.text);
    assert.match(lines.body.error.message, /SLIPWAY_LOG_MAX_LINES/);
    const ok = await api('PATCH', '/apps/ann-one/log-settings', ann, { maxBytes: 512 * 1024 });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.maxBytes, 512 * 1024);
    // An app that never set one gets the default budget, never above the cap.
    assert.equal((await api('GET', '/apps/ann-three/log-settings', ann)).body.maxBytes, 2 ** 20);
  });

  it('open follows are counted per token and per app (logs and events), 429 beyond, freed when one closes', async () => {
    const a1 = open('GET', '/apps/ann-one/logs?follow=true&tail=0', ann);
    const a2 = open('GET', '/apps/ann-one/events', ann);
    assert.equal(await a1.status, 200);
    assert.equal(await a2.status, 200);
    const a3 = await api('GET', '/apps/ann-three/logs?follow=true&tail=0', ann);
    assert.equal(a3.status, 429, `a third follow of one token: ${a3.text}`);
    assert.match(a3.body.error.message, /SLIPWAY_MAX_FOLLOWS_PER_TOKEN/);
    // Without follow, a read holds nothing and is not counted.
    assert.equal((await api('GET', '/apps/ann-one/logs?tail=5', ann)).status, 200);
    // The app's third follow (the admin's) fits; its fourth does not, whoever asks.
    const b1 = open('GET', '/apps/ann-one/logs?follow=true&tail=0', p.adminToken);
    assert.equal(await b1.status, 200);
    const b2 = await api('GET', '/apps/ann-one/events', p.adminToken);
    assert.equal(b2.status, 429, b2.text);
    assert.match(b2.body.error.message, /SLIPWAY_MAX_FOLLOWS_PER_APP/);
    a1.close();
    const again = await until('the closed follow\'s slot is free', async () => {
      const f = open('GET', '/apps/ann-three/logs?follow=true&tail=0', ann);
      if ((await f.status) === 200) return f;
      f.close();
      return null;
    }, 10_000, 200);
    for (const f of [a2, b1, again]) f.close();
  });

  it('a log tail stops at SLIPWAY_LOG_TAIL_MAX_BYTES (the newest lines, and a header says so)', async () => {
    const app = (await api('GET', '/apps/adm-one', p.adminToken)).body;
    const redis = p.redis.connect();
    const key = `${p.controller.store.keys.prefix}app:${app.id}:logs`;
    for (let i = 0; i < 20; i++) await redis.xadd(key, '*', 't', new Date().toISOString(), 'src', 'app', 'msg', `${i} ${'x'.repeat(60 * 1024)}`);
    const res = await api('GET', '/apps/adm-one/logs?tail=100', p.adminToken);
    assert.equal(res.status, 200);
    const lines = res.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { message: string });
    assert.ok(lines.length > 0 && lines.length <= 4, `${lines.length} lines of 60 KiB within 256 KiB`);
    assert.match(lines.at(-1)!.message, /^19 /, 'the newest line is kept');
    assert.equal(res.headers['slipway-tail-truncated'], String(256 * 1024));
  });

  it('one-off processes of an app at once are capped (429); one ending frees its place', async () => {
    const rel = await api('POST', '/apps/adm-two/releases?wait=true', p.adminToken, { image: 'bb:1', imageUrl: p.imageUrl, procfile: { worker: 'sleep 600' } });
    assert.ok(rel.status === 200 || rel.status === 201, rel.text);
    const first = open('POST', '/apps/adm-two/run', p.adminToken, { command: 'sleep 60', timeoutSec: 120 });
    assert.equal(await first.status, 200);
    const second = await api('POST', '/apps/adm-two/run', p.adminToken, { command: 'echo hi' });
    assert.equal(second.status, 429, second.text);
    assert.match(second.body.error.message, /SLIPWAY_MAX_ONE_OFFS_PER_APP/);
    first.close();
    await first.body;
    const third = await until('the ended one-off\'s place is free', async () => {
      const r = await api('POST', '/apps/adm-two/run', p.adminToken, { command: 'echo again' });
      return r.status === 200 ? r : null;
    }, 30_000, 500);
    assert.match(third.text, /again/);
  });

  it("an app's whole config is capped (413 names SLIPWAY_CONFIG_MAX_BYTES): every release keeps a copy", async () => {
    const v = 'v'.repeat(30 * 1024);
    const ok = await api('PATCH', '/apps/adm-three/config', p.adminToken, { A: v });
    assert.equal(ok.status, 202, ok.text);
    const over = await api('PATCH', '/apps/adm-three/config', p.adminToken, { B: v, C: v });
    assert.equal(over.status, 413, over.text);
    assert.match(over.body.error.message, /SLIPWAY_CONFIG_MAX_BYTES/);
    assert.equal((await api('PATCH', '/apps/adm-three/config', p.adminToken, { A: null, B: v })).status, 202, 'within the cap again once A goes');
  });

  it('a build log keeps to its byte budget: one notice, then only platform lines; older builds lose their logs', async () => {
    const redis = p.redis.connect();
    const store = new BuildStore(redis, p.redis.prefix('bl'), { maxBytes: 64 * 1024, logsKept: 2 });
    const rec = (id: string, at: number) => ({
      id, app: 'logger', appId: 'a_logger', commit: 'c'.repeat(40), state: 'pending' as const, slug: null, processTypes: {}, buildpacks: [], stack: 'heroku-22',
      createdBy: null, createdAt: new Date(at).toISOString(), startedAt: null, finishedAt: null, durationMs: null, failure: null,
    });
    const t0 = Date.now() - 10_000;
    await store.create(rec('b_one', t0), { sourceTar: { path: '/nonexistent' }, config: {} });
    for (let i = 0; i < 50; i++) await store.appendLog('a_logger', 'b_one', 'stdout', Array.from({ length: 10 }, (_, j) => `${i}.${j} ${'y'.repeat(1000)}`));
    await store.appendLog('a_logger', 'b_one', 'system', ['build b_one failed']);
    const { lines } = await store.readLog('a_logger', 'b_one', { count: 10_000 });
    const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l.line), 0);
    assert.ok(bytes <= 64 * 1024, `${bytes} bytes kept of 500 KB written`);
    assert.match(lines.at(-2)!.line, /cut here.*SLIPWAY_BUILD_LOG_MAX_BYTES/);
    assert.equal(lines.at(-1)!.line, 'build b_one failed', 'platform lines still go in');
    // Only the newest `logsKept` ended builds keep their log.
    await store.transition({ ...rec('b_one', t0), state: 'failed' }, ['pending']);
    await store.create(rec('b_two', t0 + 1000), { sourceTar: { path: '/nonexistent' }, config: {} });
    await store.create(rec('b_three', t0 + 2000), { sourceTar: { path: '/nonexistent' }, config: {} });
    assert.equal(await redis.exists(store.log('a_logger', 'b_one')), 0, 'the oldest build\'s log is gone');
    assert.ok(await store.get('a_logger', 'b_one'), 'its record stays');
  });

  it('a gzip bomb slug is refused while it streams (unpacked bytes counted), a normal one is stored', async () => {
    const blobDir = join(work, 'blobs');
    const blobs = localBlobs(await BlobStore.open(blobDir));
    const limits = { maxBytes: 8 * 2 ** 20, maxUnpackedBytes: 16 * 2 ** 20 };
    const tarOf = (name: string, body: Buffer) => {
      const h = new Header({ path: name, type: 'File', mode: 0o644, size: body.length, mtime: new Date() });
      const head = Buffer.alloc(512);
      h.encode(head, 0);
      return Buffer.concat([head, body, Buffer.alloc((512 - (body.length % 512)) % 512), Buffer.alloc(1024)]);
    };
    const bomb = gzipSync(Buffer.alloc(64 * 2 ** 20), { level: 9 }); // 64 MiB of zeros in ~64 KiB
    assert.ok(bomb.length < 2 ** 20);
    const t = Date.now();
    const outs = await readOutputs(Readable.from([tarOf('out/slug.tgz', bomb)]), blobs, limits);
    assert.equal(outs.slug, null, 'the bomb was not stored');
    assert.match(outs.slugError ?? '', /unpacks to more than 16 MiB.*SLIPWAY_SLUG_MAX_UNPACKED_BYTES/);
    assert.ok(Date.now() - t < 20_000, 'stopped at the limit, not unpacked to the end');
    const good = await readOutputs(Readable.from([tarOf('out/slug.tgz', gzipSync(randomBytes(1024 * 1024)))]), blobs, limits);
    assert.ok(good.slug && !good.slugError, JSON.stringify(good));
    const notGzip = await readOutputs(Readable.from([tarOf('out/slug.tgz', randomBytes(4096))]), blobs, limits);
    assert.equal(notGzip.slug, null);
    assert.match(notGzip.slugError ?? '', /not a gzip/);
  });

  it('a git push over SLIPWAY_PUSH_MAX_BYTES is refused with a remote: line; a small one goes through', async () => {
    const pipeline: PushPipeline = { deploy: async (r) => ({ summary: `deployed ${r.sha.slice(0, 7)}` }) };
    let ctl: TestController | null = null;
    try {
      ctl = await startTestController({ redis: p.redis, git: { dir: join(work, 'git'), hookSocket: join(work, 'hook.sock'), pipeline, maxPushBytes: 2 ** 20 } });
      assert.equal((await ctl.request('POST', '/v1/apps', { token: ctl.adminToken, body: { name: 'pushy' } })).status, 201);
      const repo = join(work, 'repo');
      mkdirSync(repo);
      const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { encoding: 'utf8' });
      execFileSync('git', ['init', '-q', '-b', 'main', repo]);
      writeFileSync(join(repo, 'small.txt'), 'hello\n');
      git('add', '-A');
      git('commit', '-qm', 'small');
      const url = `http://git:${ctl.adminToken}@127.0.0.1:${ctl.port}/git/pushy.git`;
      const push = () => new Promise<{ code: number; out: string }>((resolve) => {
        const c = spawn('git', ['-C', repo, 'push', url, 'main'], { env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d));
        c.stderr.on('data', (d: Buffer) => (out += d));
        c.on('close', (code) => resolve({ code: code ?? -1, out }));
      });
      const small = await push();
      assert.equal(small.code, 0, small.out);
      writeFileSync(join(repo, 'big.bin'), randomBytes(3 * 2 ** 20)); // incompressible: a 3 MiB pack
      git('add', '-A');
      git('commit', '-qm', 'big');
      const big = await push();
      assert.notEqual(big.code, 0, big.out);
      assert.match(big.out, /remote: .*pack exceeds maximum allowed size/, big.out);
    } finally {
      await ctl?.close();
    }
  });

  it('the router cuts a request head trickled a byte at a time at its deadline from the first byte (408)', async () => {
    const table: RouteTable = { resolve: (): RouteMatch | null => null, secureContext: () => null };
    const proxy = createProxy({ table, log: silentLogger, timeouts: { headMs: 1500, idleMs: 60_000 } });
    try {
      const { port } = await proxy.listenHttp('127.0.0.1', 0) as AddressInfo;
      const sock = connect(port, '127.0.0.1');
      let got = '';
      let closed = false;
      sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
      sock.on('close', () => (closed = true));
      sock.on('error', () => undefined);
      const head = 'GET / HTTP/1.1\r\nHost: slow.localhost\r\nX-Slow: ' + 'a'.repeat(200);
      const t = Date.now();
      // One byte every 100 ms: under the old idle rule (reset on every byte) this lasts 20 s and more.
      for (let i = 0; i < head.length && !closed && Date.now() - t < 10_000; i++) {
        sock.write(head[i]!);
        await sleep(100);
      }
      assert.ok(closed, 'the connection was closed');
      assert.match(got, /^HTTP\/1\.1 408 /, got);
      assert.ok(Date.now() - t < 8000, `cut after ${Date.now() - t} ms`);
      sock.destroy();
    } finally {
      await proxy.close(100);
    }
  });
});
