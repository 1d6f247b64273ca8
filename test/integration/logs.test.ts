// Logs end to end over real parts: a host agent with busybox containers labelled as the deploy
// core labels them, the log shipper following them into Redis Streams, and the controller's
// `/v1/apps/:app/logs` (NDJSON and SSE), retention, drains (syslog over TCP, HTTP) and the
// router and platform lines; a shipper restart loses and repeats nothing; a chatty app does not
// slow another app's follow nor the API.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createReadStream } from 'node:fs';
import { createServer as createHttpServer, request, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectAgent, type AgentClient } from '../../layer0/agent/index.ts';
import { logRoutes } from '../../layer1/controller/routes/logs.ts';
import { startShipper, type Shipper } from '../../layer1/logs/shipper.ts';
import type { LogLine } from '../../layer1/logs/types.ts';
import { startTestAgent, type TestAgent } from '../helpers/agent.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';
import { sleep, until } from '../helpers/wait.ts';

let redis: TestRedis;
let ctl: TestController;
let agentHost: TestAgent;
let agent: AgentClient;
let shipper: Shipper;
let prefix: string;
const apps: Record<string, string> = {};

async function createApp(name: string): Promise<string> {
  const r = await ctl.request('POST', '/v1/apps', { token: ctl.adminToken, body: { name } });
  assert.equal(r.status, 201, r.text);
  return (apps[name] = r.body.id as string);
}

/** A busybox container labelled as a process of `app` (type.index, release). */
async function run(app: string, script: string, o: { type?: string; index?: number; release?: string; memory?: number } = {}): Promise<string> {
  const type = o.type ?? 'web';
  const id = await agent.createContainer({
    Image: 'bb:1', Cmd: ['sh', '-c', script],
    Labels: { 'slipway.app': app, 'slipway.app-id': apps[app]!, 'slipway.type': type, 'slipway.index': String(o.index ?? 1), 'slipway.release': o.release ?? 'v1' },
    ...(o.memory ? { HostConfig: { Memory: o.memory, MemorySwap: o.memory } } : {}),
  } as never);
  await agent.startContainer(id);
  return id;
}

async function logs(app: string, query = '', headers: Record<string, string> = {}): Promise<{ status: number; lines: LogLine[]; text: string; type: string }> {
  const r = await ctl.request('GET', `/v1/apps/${app}/logs${query ? `?${query}` : ''}`, { token: ctl.adminToken, headers });
  const lines = r.status === 200 && !String(r.headers['content-type']).includes('event-stream') ? r.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine) : [];
  return { status: r.status, lines, text: r.text, type: String(r.headers['content-type']) };
}

/** A follow request; lines as they come, with their arrival time. */
function follow(app: string, query = '', accept = 'application/x-ndjson') {
  const got: { line: LogLine; at: number }[] = [];
  let buf = '';
  let close = () => {};
  const opened = new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: ctl.port, path: `/v1/apps/${app}/logs?follow=true&tail=0${query ? `&${query}` : ''}`, headers: { authorization: `Bearer ${ctl.adminToken}`, accept } }, (res) => {
      resolve();
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        const sep = accept.includes('event-stream') ? '\n\n' : '\n';
        let i: number;
        while ((i = buf.indexOf(sep)) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + sep.length);
          const data = accept.includes('event-stream') ? /^data: (.*)$/m.exec(chunk)?.[1] : chunk;
          if (data) got.push({ line: JSON.parse(data) as LogLine, at: Date.now() });
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => !got.length && req.destroy(new Error('no answer to the follow request')));
    req.end();
    close = () => req.destroy();
  });
  return { got, opened, close: () => close() };
}

const flushed = async () => {
  await sleep(300);
  await shipper.flushed();
};

describe('logs', { timeout: 300_000 }, () => {
  before(async () => {
    redis = await startTestRedis();
    // The logs route once more at /logs-quick with a 300 ms heartbeat, to see a quiet follow's keep-alive.
    const quick = (d: Parameters<typeof logRoutes>[0]) => logRoutes(d, { heartbeatMs: 300 }).filter((r) => r.path === '/apps/:app/logs').map((r) => ({ ...r, path: '/apps/:app/logs-quick' }));
    ctl = await startTestController({ redis, routes: quick });
    agentHost = await startTestAgent({ suffix: 'lg' });
    agent = connectAgent({ socketPath: agentHost.socketPath });
    await agent.importImage(createReadStream(agentHost.busyboxTar), { repo: 'bb', tag: '1' });
    prefix = ctl.controller.store.keys.prefix;
    shipper = await startShipper({ agent, redisUrl: redis.url, keyPrefix: prefix, metricsIntervalMs: 0, resyncMs: 2000 });
    for (const n of ['order', 'filters', 'empty', 'followme', 'retain', 'bigline', 'restart', 'drained', 'chatty', 'quiet', 'events']) await createApp(n);
  });
  after(async () => {
    await shipper?.close();
    await agentHost?.cleanup();
    await ctl?.close();
    await redis?.cleanup();
  });

  it('keeps the order of a process\'s lines, tagged with app, release, process and stream', async () => {
    const id = await run('order', 'i=1; while [ $i -le 3000 ]; do echo "out $i"; if [ $((i % 500)) = 0 ]; then echo "err $i" >&2; fi; i=$((i+1)); done', { release: 'v7' });
    await agent.waitContainer(id);
    await flushed();
    const r = await logs('order', 'tail=10000&source=app');
    assert.equal(r.status, 200);
    assert.match(r.type, /application\/x-ndjson/);
    const out = r.lines.filter((l) => l.stream === 'stdout').map((l) => l.message);
    assert.deepEqual(out, Array.from({ length: 3000 }, (_, i) => `out ${i + 1}`));
    const err = r.lines.filter((l) => l.stream === 'stderr');
    assert.deepEqual(err.map((l) => l.message), ['err 500', 'err 1000', 'err 1500', 'err 2000', 'err 2500', 'err 3000']);
    // stdout and stderr are two pipes read apart by the monitor, so only each stream's own order holds.
    assert.deepEqual({ type: err[0]!.type, process: err[0]!.process, release: err[0]!.release, source: err[0]!.source }, { type: 'web', process: 'web.1', release: 'v7', source: 'app' });
    // The default tail is 100; ids increase.
    const d = await logs('order');
    assert.equal(d.lines.length, 100);
    for (let i = 1; i < d.lines.length; i++) assert.ok(d.lines[i]!.id > d.lines[i - 1]!.id || d.lines[i]!.id.length > d.lines[i - 1]!.id.length);
    // The process's end is a platform line.
    const p = await logs('order', 'source=platform');
    assert.ok(p.lines.some((l) => l.event === 'exited' && l.process === 'web.1'), p.text);
    await agent.removeContainer(id, true);
  });

  it('filters by type, process, release, stream and source; an app with no logs is 200 and empty', async () => {
    const a = await run('filters', 'echo web-one; echo web-one-err >&2', { type: 'web', index: 1, release: 'v2' });
    const b = await run('filters', 'echo web-two', { type: 'web', index: 2, release: 'v3' });
    const c = await run('filters', 'echo worker-one', { type: 'worker', index: 1, release: 'v3' });
    for (const id of [a, b, c]) await agent.waitContainer(id);
    await flushed();
    const msgs = async (q: string) => (await logs('filters', `source=app&${q}`)).lines.map((l) => l.message).sort();
    assert.deepEqual(await msgs('type=web'), ['web-one', 'web-one-err', 'web-two']);
    assert.deepEqual(await msgs('ps=web'), ['web-one', 'web-one-err', 'web-two']);
    assert.deepEqual(await msgs('ps=web.2'), ['web-two']);
    assert.deepEqual(await msgs('process=worker.1'), ['worker-one']);
    assert.deepEqual(await msgs('release=v3'), ['web-two', 'worker-one']);
    assert.deepEqual(await msgs('stream=stderr'), ['web-one-err']);
    assert.deepEqual(await msgs('type=web&tail=1'), ['web-two'].length === 1 ? [(await logs('filters', 'source=app&type=web&tail=1')).lines[0]!.message] : []);
    assert.ok((await logs('filters', 'source=platform')).lines.every((l) => l.source === 'platform'));
    const empty = await logs('empty');
    assert.equal(empty.status, 200);
    assert.equal(empty.text, '');
    assert.equal((await logs('empty', 'since=10m')).status, 200);
    assert.equal((await logs('filters', 'stream=both')).status, 422);
    assert.equal((await logs('filters', 'since=yesterday-ish')).status, 422);
    assert.equal((await logs('nosuchapp')).status, 404);
    // A view user reads logs; no token: 401.
    const viewer = await ctl.user('logviewer', { app: 'filters', grant: 'view' });
    assert.equal((await ctl.request('GET', '/v1/apps/filters/logs', { token: viewer })).status, 200);
    assert.equal((await ctl.request('GET', '/v1/apps/filters/logs', { token: null })).status, 401);
    for (const id of [a, b, c]) await agent.removeContainer(id, true);
  });

  it('follow sees a new line within a second (NDJSON and SSE)', async () => {
    const nd = follow('followme', 'source=app');
    const sse = follow('followme', 'source=app', 'text/event-stream');
    await Promise.all([nd.opened, sse.opened]);
    await sleep(200);
    const id = await run('followme', 'sleep 0.3; echo hello-follow; sleep 30');
    const seen = await until('the followed line', () => nd.got.find((g) => g.line.message === 'hello-follow'), 10_000, 20);
    const seenSse = await until('the SSE line', () => sse.got.find((g) => g.line.message === 'hello-follow'), 10_000, 20);
    const written = Date.parse(seen.line.time);
    assert.ok(seen.at - written < 1000, `arrived ${seen.at - written} ms after it was written`);
    assert.ok(seenSse.at - written < 1000, `SSE: ${seenSse.at - written} ms`);
    nd.close();
    sse.close();
    await agent.removeContainer(id, true);
  });

  it('a quiet follow gets a keep-alive (a blank line in NDJSON, a comment in SSE) each heartbeat', async () => {
    const raw = (accept: string) => new Promise<string>((resolve, reject) => {
      let text = '';
      const req = request({ host: '127.0.0.1', port: ctl.port, path: '/v1/apps/empty/logs-quick?follow=true&tail=0', headers: { authorization: `Bearer ${ctl.adminToken}`, accept } }, (res) => {
        assert.equal(res.statusCode, 200);
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('error', () => undefined);
        setTimeout(() => {
          req.destroy();
          resolve(text);
        }, 1000);
      });
      req.on('error', reject);
      req.end();
    });
    const [nd, sse] = await Promise.all([raw('application/x-ndjson'), raw('text/event-stream')]);
    assert.match(nd, /^\n\n+$/, `NDJSON: ${JSON.stringify(nd)}`);
    assert.ok((sse.match(/: keep-alive\n\n/g) ?? []).length >= 2, `SSE: ${JSON.stringify(sse)}`);
  });

  it('trims by count and by age, per app', async () => {
    const set = await ctl.request('PATCH', '/v1/apps/retain/log-settings', { token: ctl.adminToken, body: { maxLines: 200 } });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.body, { maxLines: 200, maxAgeSec: 7 * 86400, maxBytes: 32 * 2 ** 20 });
    assert.equal((await ctl.request('PATCH', '/v1/apps/retain/log-settings', { token: ctl.adminToken, body: { maxLines: 5 } })).status, 422);
    await sleep(5200); // the shipper's cached settings
    const id = await run('retain', 'i=1; while [ $i -le 1000 ]; do echo "r $i"; i=$((i+1)); done');
    await agent.waitContainer(id);
    await flushed();
    const key = `${prefix}app:${apps.retain}:logs`;
    const n = await redis.connect().xlen(key);
    assert.ok(n <= 200, `${n} lines kept`);
    const kept = (await logs('retain', 'tail=1000&source=app')).lines;
    assert.equal(kept.at(-1)!.message, 'r 1000');
    // Age: lines older than maxAgeSec go (at the next write, and at once when the setting changes).
    await sleep(2100);
    const aged = await ctl.request('PATCH', '/v1/apps/retain/log-settings', { token: ctl.adminToken, body: { maxAgeSec: 2 } });
    assert.equal(aged.status, 200);
    assert.equal(await redis.connect().xlen(key), 0);
    await sleep(5200);
    await agent.removeContainer(id, true);
    const id2 = await run('retain', 'echo fresh-one');
    await agent.waitContainer(id2);
    await flushed();
    assert.deepEqual((await logs('retain', 'source=app')).lines.map((l) => l.message), ['fresh-one']);
    await sleep(2500);
    const id3 = await run('retain', 'echo fresh-two');
    await agent.waitContainer(id3);
    await flushed();
    assert.deepEqual((await logs('retain', 'source=app')).lines.map((l) => l.message), ['fresh-two']);
    for (const i of [id2, id3]) await agent.removeContainer(i, true);
    assert.equal((await ctl.request('GET', '/v1/apps/retain/log-settings', { token: ctl.adminToken })).body.maxAgeSec, 2);
  });

  it('splits a 100 KiB line into parts, none dropped', async () => {
    const id = await run('bigline', 'echo before; head -c 102400 /dev/zero | tr "\\0" x; echo; echo after');
    await agent.waitContainer(id);
    await flushed();
    const lines = (await logs('bigline', 'source=app')).lines;
    assert.deepEqual(lines.map((l) => [l.part ?? '', l.message.length]), [['', 6], ['1/2', 65536], ['2/2', 102400 - 65536], ['', 5]]);
    assert.equal(lines[1]!.message + lines[2]!.message, 'x'.repeat(102400));
    await agent.removeContainer(id, true);
  });

  it('a shipper restart loses and repeats nothing', async () => {
    const id = await run('restart', 'i=1; while [ $i -le 4000 ]; do echo "n $i"; if [ $((i % 100)) = 0 ]; then sleep 0.05; fi; i=$((i+1)); done');
    await until('some lines', async () => (await logs('restart', 'source=app&tail=10')).lines.length > 0, 10_000);
    await shipper.close();
    await sleep(500);
    shipper = await startShipper({ agent, redisUrl: redis.url, keyPrefix: prefix, metricsIntervalMs: 0, resyncMs: 2000 });
    await sleep(300);
    await shipper.close();
    shipper = await startShipper({ agent, redisUrl: redis.url, keyPrefix: prefix, metricsIntervalMs: 0, resyncMs: 2000 });
    await agent.waitContainer(id);
    await flushed();
    const got = (await logs('restart', 'source=app&tail=10000')).lines.map((l) => l.message);
    assert.equal(got.length, 4000, `got ${got.length} lines`);
    assert.deepEqual(got, Array.from({ length: 4000 }, (_, i) => `n ${i + 1}`));
    await agent.removeContainer(id, true);
  });

  it('drains to syslog over TCP (RFC 5424, octet counting), to HTTP and to HTTPS (the host bundle trusted)', async () => {
    let syslogText = '';
    const tcp: TcpServer = createTcpServer((s) => s.on('data', (d) => (syslogText += d.toString())));
    const posts: string[] = [];
    const http: HttpServer = createHttpServer((req, res) => {
      let b = '';
      req.on('data', (d) => (b += d));
      req.on('end', () => {
        posts.push(b);
        res.end('ok');
      });
    });
    // HTTPS with a certificate of the machine's own authority: the drain trusts the host bundle
    // (here SLIPWAY_CA_BUNDLE names it, as a host's /etc/ssl/certs/ca-certificates.crt would hold it).
    const certDir = mkdtempSync(join(tmpdir(), 'slwt-drain-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')], { stdio: 'ignore' });
    process.env.SLIPWAY_CA_BUNDLE = join(certDir, 'cert.pem');
    const tlsPosts: string[] = [];
    const https = createHttpsServer({ cert: readFileSync(join(certDir, 'cert.pem')), key: readFileSync(join(certDir, 'key.pem')) }, (req, res) => {
      let b = '';
      req.on('data', (d) => (b += d));
      req.on('end', () => {
        tlsPosts.push(b);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
    try {
      const sp = (tcp.address() as { port: number }).port;
      const hp = (http.address() as { port: number }).port;
      // The test's drains listen on loopback, which tenants may not reach unless the operator allows it.
      assert.equal((await ctl.request('POST', '/v1/apps/drained/drains', { token: ctl.adminToken, body: { url: `syslog://127.0.0.1:${sp}` } })).status, 422);
      process.env.SLIPWAY_URL_ALLOW = '127.0.0.1';
      const a = await ctl.request('POST', '/v1/apps/drained/drains', { token: ctl.adminToken, body: { url: `syslog://127.0.0.1:${sp}` } });
      assert.equal(a.status, 201, a.text);
      const b = await ctl.request('POST', '/v1/apps/drained/drains', { token: ctl.adminToken, body: { url: `http://user:secret@127.0.0.1:${hp}/logs` } });
      assert.equal(b.status, 201, b.text);
      assert.equal(b.body.url, `http://user:***@127.0.0.1:${hp}/logs`);
      const tp = (https.address() as { port: number }).port;
      assert.equal((await ctl.request('POST', '/v1/apps/drained/drains', { token: ctl.adminToken, body: { url: `https://127.0.0.1:${tp}/in` } })).status, 201);
      assert.equal((await ctl.request('POST', '/v1/apps/drained/drains', { token: ctl.adminToken, body: { url: 'ftp://x' } })).status, 422);
      assert.equal((await ctl.request('POST', '/v1/apps/drained/drains', { token: ctl.adminToken, body: { url: `syslog://127.0.0.1:${sp}` } })).status, 409);
      const viewer = await ctl.user('drainviewer', { app: 'drained', grant: 'view' });
      assert.equal((await ctl.request('GET', '/v1/apps/drained/drains', { token: viewer })).status, 403);
      const list = await ctl.request('GET', '/v1/apps/drained/drains', { token: ctl.adminToken });
      assert.equal(list.body.items.length, 3);

      const id = await run('drained', 'i=1; while [ $i -le 50 ]; do echo "drain $i"; i=$((i+1)); done; echo "drain-err" >&2');
      await agent.waitContainer(id);
      await until('syslog lines', () => syslogText.includes('drain-err'), 15_000);
      await until('http lines', () => posts.join('').includes('drain-err'), 15_000);
      await until('https lines', () => tlsPosts.join('').includes('drain-err'), 15_000);
      // Octet-counted frames: `LEN SP <PRI>1 …`, every frame whole.
      const frames: string[] = [];
      let rest = syslogText;
      while (rest.length) {
        const m = /^(\d+) /.exec(rest);
        assert.ok(m, `bad framing at ${JSON.stringify(rest.slice(0, 40))}`);
        const len = Number(m[1]);
        const body = Buffer.from(rest.slice(m[0].length)).subarray(0, len).toString();
        frames.push(body);
        rest = rest.slice(m[0].length + body.length);
      }
      const app = frames.filter((f) => / app web\.1 /.test(f));
      assert.equal(app.length, 51, frames.join('\n'));
      assert.match(app[0]!, /^<14>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z drained app web\.1 - - drain 1$/);
      assert.match(app[50]!, /^<11>1 .* drain-err$/);
      const httpLines = posts.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine & { app: string }).filter((l) => l.source === 'app');
      assert.deepEqual(httpLines.map((l) => l.message), [...Array.from({ length: 50 }, (_, i) => `drain ${i + 1}`), 'drain-err']);
      assert.equal(httpLines[0]!.app, 'drained');
      // Removing a drain stops it.
      assert.equal((await ctl.request('DELETE', `/v1/apps/drained/drains/${a.body.id}`, { token: ctl.adminToken })).status, 204);
      assert.equal((await ctl.request('DELETE', `/v1/apps/drained/drains/${a.body.id}`, { token: ctl.adminToken })).status, 404);
      await agent.removeContainer(id, true);
    } finally {
      delete process.env.SLIPWAY_URL_ALLOW;
      tcp.close();
      http.closeAllConnections();
      http.close();
      https.closeAllConnections();
      https.close();
      rmSync(certDir, { recursive: true, force: true });
    }
  });

  it('takes the router\'s access records and the platform\'s events into the same stream', async () => {
    shipper.access({ time: new Date().toISOString(), app: 'events', method: 'GET', host: 'events.localhost', path: '/hello', status: 200, bytesIn: 0, bytesOut: 12, durationMs: 3.2, backend: '172.31.0.2:5000', requestId: 'req-1' });
    shipper.access({ time: new Date().toISOString(), app: 'nosuchapp', method: 'GET', host: 'x', path: '/', status: 404, bytesIn: 0, bytesOut: 0, durationMs: 1, backend: null, requestId: 'req-2' });
    // The deploy core's events stream (as controller/deploy writes it) is bridged.
    await redis.connect().xadd(`${prefix}events`, '*', 'type', 'release.created', 'app', 'events', 'appId', apps.events!, 'at', new Date().toISOString(), 'data', JSON.stringify({ version: 4, createdBy: 'admin' }));
    // A build container: its output stays with the build record, the log says it started and failed.
    const build = await agent.createContainer({
      Image: 'bb:1', Cmd: ['sh', '-c', 'echo compiling-secret-output; exit 2'],
      Labels: { 'slipway.app': 'events', 'slipway.app-id': apps.events!, 'slipway.type': 'build', 'slipway.build': 'bld_1' },
    } as never);
    await agent.startContainer(build);
    const crash = await run('events', 'echo dying; exit 3', { type: 'worker' });
    const oom = await run('events', 'echo eating; tail -c 200000000 /dev/zero', { type: 'hog', memory: 24 * 1024 * 1024 });
    await agent.waitContainer(crash);
    await agent.waitContainer(oom);
    await until('platform lines', async () => (await logs('events', 'source=platform')).lines.some((l) => l.event === 'oom'), 10_000);
    const p = (await logs('events', 'source=platform')).lines;
    assert.ok(p.some((l) => l.event === 'crashed' && /exit code 3/.test(l.message) && l.process === 'worker.1'), JSON.stringify(p));
    assert.ok(p.some((l) => l.event === 'oom' && l.process === 'hog.1'), JSON.stringify(p));
    await agent.waitContainer(build);
    await until('build lines', async () => (await logs('events', 'source=platform')).lines.some((l) => /build bld_1 failed \(exit code 2\)/.test(l.message)), 10_000);
    assert.ok((await logs('events', 'source=platform')).lines.some((l) => l.message === 'build bld_1 started'));
    assert.ok(!(await logs('events', 'tail=1000')).lines.some((l) => l.message.includes('compiling-secret-output')));
    await agent.removeContainer(build, true);
    assert.ok(p.some((l) => l.event === 'release' && /release v4 created by admin/.test(l.message)), JSON.stringify(p));
    const r = await until('the router line', async () => (await logs('events', 'source=router')).lines[0]);
    assert.match(r.message, /method=GET path="\/hello" host=events\.localhost request_id=req-1 .*status=200/);
    assert.equal(r.status, 200);
    for (const id of [crash, oom]) await agent.removeContainer(id, true);
  });

  it('slipway logs, drains, drains:add, drains:remove', async () => {
    const home = mkdtempSync(join(tmpdir(), 'slwt-logs-cli-'));
    const cli = (...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
      execFile(process.execPath, [resolve(import.meta.dirname, '../../bin/slipway.js'), ...args], {
        env: { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, 'cfg'), NO_COLOR: '1', SLIPWAY_URL: `http://127.0.0.1:${ctl.port}`, SLIPWAY_TOKEN: ctl.adminToken },
        timeout: 30_000,
      }, (err, stdout, stderr) => res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });
    try {
      const out = await cli('logs', '-a', 'filters', '--ps', 'web', '--source', 'app');
      assert.equal(out.code, 0, out.stderr);
      const lines = out.stdout.trim().split('\n').sort();
      assert.equal(lines.length, 3, out.stdout);
      assert.match(lines.find((l) => l.endsWith('web-two'))!, /^\d{4}-\d\d-\d\dT[\d:.]+Z app\[web\.2\]: web-two$/);
      const json = await cli('logs', '-a', 'filters', '--tail', '2', '--json', '--source', 'app');
      assert.equal(json.stdout.trim().split('\n').map((l) => JSON.parse(l)).length, 2);
      const refused = await cli('drains:add', 'syslog://127.0.0.1:9', '-a', 'filters');
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /loopback, link-local or private/);
      process.env.SLIPWAY_URL_ALLOW = '127.0.0.1'; // the operator allows loopback drains (read by the in-process controller)
      const add = await cli('drains:add', 'syslog://127.0.0.1:9', '-a', 'filters');
      delete process.env.SLIPWAY_URL_ALLOW;
      assert.equal(add.code, 0, add.stderr);
      const id = /drain (drn_\w+)/.exec(add.stdout)![1]!;
      assert.match((await cli('drains', '-a', 'filters')).stdout, new RegExp(`${id}\\s+syslog://127\\.0\\.0\\.1:9`));
      assert.equal((await cli('drains:remove', id, '-a', 'filters')).code, 0);
      assert.match((await cli('drains', '-a', 'filters')).stdout, /no drains/);
      const bad = await cli('logs', '-a', 'nosuchapp');
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /not found|no app/i);
      // Following ends with the client: a line written meanwhile is printed.
      const follower = execFile(process.execPath, [resolve(import.meta.dirname, '../../bin/slipway.js'), 'logs', '-f', '-a', 'followme', '--tail', '0', '--source', 'app'], {
        env: { PATH: process.env.PATH, HOME: home, NO_COLOR: '1', SLIPWAY_URL: `http://127.0.0.1:${ctl.port}`, SLIPWAY_TOKEN: ctl.adminToken },
      });
      let followed = '';
      follower.stdout!.on('data', (d) => (followed += d));
      await sleep(1500);
      const c = await run('followme', 'echo cli-follow-line');
      await until('the followed line in the CLI', () => followed.includes('app[web.1]: cli-follow-line'), 10_000);
      follower.kill('SIGTERM');
      await agent.removeContainer(c, true);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('a chatty app (over 4,000 lines/s shipped) slows neither another app\'s follow nor the API', async () => {
    // Baseline: the quiet app's follow latency and the API's latency with nothing else going on.
    const measure = async (ms: number) => {
      const f = follow('quiet', 'source=app');
      await f.opened;
      await sleep(100);
      const api: number[] = [];
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const t0 = performance.now();
        const r = await ctl.request('GET', '/v1/apps/quiet', { token: ctl.adminToken });
        assert.equal(r.status, 200);
        api.push(performance.now() - t0);
        await sleep(50);
      }
      await sleep(500);
      f.close();
      const lat = f.got.map((g) => g.at - Date.parse(g.line.time)).sort((a, b) => a - b);
      api.sort((a, b) => a - b);
      return { followP95: lat[Math.floor(lat.length * 0.95)] ?? Infinity, n: lat.length, apiP95: api[Math.floor(api.length * 0.95)]! };
    };
    const quiet = await run('quiet', 'while true; do echo "tick $(date +%s)"; sleep 0.1; done');
    await sleep(500);
    const base = await measure(3000);
    const chatty = await run('chatty', 'i=0; while true; do j=0; while [ $j -lt 100 ]; do echo "chatty line $i $j with some padding to look like a real log line"; j=$((j+1)); done; i=$((i+1)); sleep 0.01; done');
    await sleep(1000);
    const before = shipper.stats().written;
    const t0 = Date.now();
    const loaded = await measure(5000);
    const rate = ((shipper.stats().written - before) / (Date.now() - t0)) * 1000;
    console.log(`chatty app: ${Math.round(rate)} lines/s shipped; quiet follow p95 ${base.followP95} → ${loaded.followP95} ms (${loaded.n} lines); API p95 ${base.apiP95.toFixed(1)} → ${loaded.apiP95.toFixed(1)} ms`);
    assert.ok(rate > 4000, `the chatty app's lines are shipped (${Math.round(rate)}/s)`);
    assert.ok(loaded.n >= 30, `the quiet app's lines keep coming (${loaded.n})`);
    assert.ok(loaded.followP95 < 1000, `quiet follow p95 ${loaded.followP95} ms`);
    assert.ok(loaded.apiP95 < Math.max(250, base.apiP95 * 5), `API p95 ${loaded.apiP95} ms`);
    await agent.removeContainer(chatty, true);
    await agent.removeContainer(quiet, true);
  });
});
