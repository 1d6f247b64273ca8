// The router's data plane over real sockets: a proxy (createProxy) in this process with a static
// RouteTable, Node http and ws backends, and raw-socket backends that hang, reset or answer
// garbage. Routing by host and path prefix, the router's own pages (404, 503, maintenance, 502,
// 504, 400/431), the HTTPS redirect, TLS certificates chosen by SNI, WebSocket, keep-alive,
// pipelining, chunked bodies both ways, 100-continue, HEAD/204/304, forwarding and hop-by-hop
// headers, retries with ejection, smuggling attempts that never reach a backend, access records,
// metrics; and, with the proxy in its own process, 100 MB each way with flat memory.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import { silentLogger } from '../../layer0/common/logger.ts';
import { createProxy, type Proxy } from '../../layer1/router/proxy/index.ts';
import type { AccessRecord, AppRoute, Backend, RouteMatch, RouteTable } from '../../layer1/router/types.ts';
import { sleep, until } from '../helpers/wait.ts';

const ROOT = join(import.meta.dirname, '..', '..');

class StaticTable implements RouteTable {
  readonly hosts = new Map<string, RouteMatch>();
  readonly prefixes: { host: string; prefix: string; match: RouteMatch }[] = [];
  readonly contexts = new Map<string, SecureContext>();
  resolve(host: string, path: string): RouteMatch | null {
    for (const p of this.prefixes) if (p.host === host && (path === p.prefix || path.startsWith(`${p.prefix}/`))) return p.match;
    return this.hosts.get(host) ?? null;
  }
  secureContext(name: string): SecureContext | null {
    return this.contexts.get(name) ?? null;
  }
}

const appRoute = (name: string, o: Partial<AppRoute> = {}): AppRoute => ({ id: `id-${name}`, name, service: `${name}-web`, domains: [], paths: [], maintenance: false, httpsRedirect: false, ...o });
const backend = (id: string, port: number): Backend => ({ id, host: '127.0.0.1', port, inflight: 0, ejectedUntil: 0, failures: 0, draining: false });
const route = (name: string, backends: Backend[], o: Partial<AppRoute> = {}): RouteMatch => ({ app: appRoute(name, o), pool: { service: `${name}-web`, backends } });

interface TestBackend {
  server: Server;
  port: number;
  requests: number;
  connections: number;
}

async function listen(server: Server | NetServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** A Node http backend: echoes what it got as JSON, plus a few special paths. */
async function startBackend(name: string): Promise<TestBackend> {
  const b = { requests: 0, connections: 0 } as TestBackend;
  b.server = createServer((req, res) => {
    b.requests++;
    const url = req.url ?? '/';
    if (url === '/echo') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    if (url === '/big') {
      const size = 100 * 1024 * 1024;
      const block = Buffer.alloc(64 * 1024, 'x');
      res.writeHead(200, { 'content-length': size });
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          sent += block.length;
          if (!res.write(block)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    if (url === '/chunked') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('one,');
      setTimeout(() => {
        res.write('two,');
        res.end('three');
      }, 20);
      return;
    }
    if (url === '/hop') {
      res.writeHead(200, { connection: 'X-Resp', 'x-resp': '1', 'keep-alive': 'timeout=5', 'x-kept': 'yes', 'content-length': 2 });
      res.end('ok');
      return;
    }
    if (url === '/slow') {
      setTimeout(() => res.end('slow done'), 300);
      return;
    }
    if (url.startsWith('/status/')) {
      res.writeHead(Number(url.slice(8)));
      res.end();
      return;
    }
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => {
      const body = JSON.stringify({ server: name, method: req.method, url, headers: req.headers, rawHeaders: req.rawHeaders, n });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  b.server.on('connection', () => b.connections++);
  b.server.keepAliveTimeout = 30_000;
  b.port = await listen(b.server);
  return b;
}

/** A raw TCP backend that does `onSocket` with every connection (hang, reset, garbage). */
async function startRaw(onSocket: (s: Socket) => void): Promise<{ server: NetServer; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onSocket(s);
  });
  return { server, port: await listen(server), sockets };
}

interface Res {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  socket: Socket;
  reused: boolean;
}

function get(port: number, host: string, path = '/', o: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: { host, ...o.headers }, agent: o.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, socket: res.socket, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Writes raw bytes and collects everything until the router closes the connection (or `ms`). */
function raw(port: number, data: string | Buffer, ms = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false });
    }, ms);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    s.write(data);
  });
}

let proxy: Proxy;
let port: number;
let httpsPort: number;
const table = new StaticTable();
const access: AccessRecord[] = [];
let A: TestBackend;
let B: TestBackend;
let dir: string;
const closers: (() => Promise<unknown> | void)[] = [];
let hang: Awaited<ReturnType<typeof startRaw>>;
let deadPort: number;

function cert(name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'slwt-router-proxy-'));
  A = await startBackend('A');
  B = await startBackend('B');
  closers.push(() => A.server.closeAllConnections(), () => B.server.closeAllConnections());
  closers.push(() => new Promise((r) => A.server.close(r)), () => new Promise((r) => B.server.close(r)));
  hang = await startRaw((s) => s.resume()); // reads and never answers
  const reset = await startRaw((s) => s.once('data', () => s.resetAndDestroy()));
  const garbage = await startRaw((s) => s.once('data', () => s.end('HELLO THERE\r\n\r\n')));
  const wsServer = createServer();
  const wss = new WebSocketServer({ server: wsServer });
  wss.on('connection', (ws) => ws.on('message', (m, isBinary) => ws.send(m, { binary: isBinary })));
  const wsPort = await listen(wsServer);
  const dead = createNetServer();
  deadPort = await listen(dead);
  await new Promise((r) => dead.close(r)); // a port nobody listens on: connects are refused
  for (const r of [hang, reset, garbage]) {
    closers.push(() => {
      for (const s of r.sockets) s.destroy();
      return new Promise((done) => r.server.close(done));
    });
  }
  closers.push(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    return new Promise((r) => wsServer.close(r));
  });

  table.hosts.set('app.localhost', route('a', [backend('A1', A.port)]));
  table.hosts.set('other.localhost', route('b', [backend('B1', B.port)]));
  table.hosts.set('maint.localhost', route('maint', [backend('A1m', A.port)], { maintenance: true }));
  table.hosts.set('empty.localhost', route('empty', []));
  table.hosts.set('drained.localhost', route('drained', [{ ...backend('D1', A.port), draining: true }]));
  table.hosts.set('secure.localhost', route('secure', [backend('A1s', A.port)], { httpsRedirect: true }));
  table.hosts.set('hang.localhost', route('hang', [backend('H1', hang.port)]));
  table.hosts.set('reset.localhost', route('reset', [backend('R1', reset.port)]));
  table.hosts.set('garbage.localhost', route('garbage', [backend('G1', garbage.port)]));
  table.hosts.set('ws.localhost', route('ws', [backend('W1', wsPort)]));
  table.hosts.set('retry.localhost', route('retry', [backend('dead', deadPort), backend('alive', A.port)]));
  table.hosts.set('down.localhost', route('down', [backend('dead1', deadPort), backend('dead2', deadPort)]));
  table.hosts.set('a.test', route('a', [backend('A1', A.port)]));
  table.hosts.set('b.test', route('b', [backend('B1', B.port)]));
  table.hosts.set('site.localhost', route('b', [backend('B1', B.port)]));
  table.prefixes.push({ host: 'site.localhost', prefix: '/api', match: route('a', [backend('A1', A.port)]) });

  proxy = createProxy({ table, log: silentLogger, onAccess: (r) => access.push(r), timeouts: { connectMs: 1000, firstByteMs: 600, idleMs: 10_000 }, ejectMs: 60_000 });
  port = (await proxy.listenHttp('127.0.0.1', 0)).port;
  const a = cert('a.test');
  const b = cert('b.test');
  table.contexts.set('a.test', createSecureContext(a));
  table.contexts.set('b.test', createSecureContext(b));
  httpsPort = (await proxy.listenHttps('127.0.0.1', 0, cert('default.localhost'))).port;
});

after(async () => {
  await proxy?.close(0);
  for (const c of closers.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

describe('routing and the router’s pages', () => {
  it('routes by host (case and port do not matter)', async () => {
    const a = await get(port, 'App.Localhost:8080');
    const b = await get(port, 'other.localhost');
    assert.equal(a.status, 200);
    assert.equal(JSON.parse(a.body).server, 'A');
    assert.equal(JSON.parse(b.body).server, 'B');
  });

  it('answers an unknown host with a 404 page', async () => {
    const r = await get(port, 'nope.localhost', '/x');
    assert.equal(r.status, 404);
    assert.match(r.headers['content-type']!, /text\/html/);
    assert.match(r.body, /No app is served at nope\.localhost/);
    assert.equal(r.headers['x-request-id']?.length, 36);
  });

  it('answers 503 when no backend can take the request', async () => {
    for (const host of ['empty.localhost', 'drained.localhost']) {
      const r = await get(port, host);
      assert.equal(r.status, 503, host);
      assert.match(r.body, /no running web process/);
    }
  });

  it('answers 503 with a maintenance page', async () => {
    const before = A.requests;
    const r = await get(port, 'maint.localhost');
    assert.equal(r.status, 503);
    assert.match(r.body, /down for maintenance/);
    assert.equal(A.requests, before);
  });

  it('routes by path prefix', async () => {
    assert.equal(JSON.parse((await get(port, 'site.localhost', '/api')).body).server, 'A');
    assert.equal(JSON.parse((await get(port, 'site.localhost', '/api/users?x=1')).body).server, 'A');
    assert.equal(JSON.parse((await get(port, 'site.localhost', '/apix')).body).server, 'B');
    assert.equal(JSON.parse((await get(port, 'site.localhost', '/')).body).server, 'B');
  });

  it('redirects plain HTTP to HTTPS for an app that asks for it', async () => {
    const r = await get(port, 'secure.localhost:80', '/p?q=1');
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, `https://secure.localhost:${httpsPort}/p?q=1`);
    const s = await new Promise<Res>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: httpsPort, path: '/', servername: 'secure.localhost', headers: { host: 'secure.localhost' }, rejectUnauthorized: false, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, socket: res.socket, reused: false }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(s.status, 200, 'over HTTPS the request goes through');
    assert.equal(JSON.parse(s.body).headers['x-forwarded-proto'], 'https');
  });
});

describe('TLS', () => {
  function handshake(servername: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: httpsPort, servername, rejectUnauthorized: false }, () => {
        const cn = s.getPeerCertificate().subject.CN;
        s.end();
        resolve(String(cn));
      });
      s.on('error', reject);
    });
  }

  it('chooses the certificate by SNI, the default otherwise', async () => {
    assert.equal(await handshake('a.test'), 'a.test');
    assert.equal(await handshake('b.test'), 'b.test');
    assert.equal(await handshake('unknown.test'), 'default.localhost');
  });

  it('serves requests over TLS by host', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: httpsPort, path: '/t', servername: 'b.test', headers: { host: 'b.test' }, rejectUnauthorized: false, agent: false }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end();
    });
    const j = JSON.parse(body);
    assert.equal(j.server, 'B');
    assert.equal(j.headers['x-forwarded-port'], String(httpsPort));
  });
});

describe('protocol', () => {
  it('relays a WebSocket (text and a large binary message)', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, { headers: { host: 'ws.localhost' } });
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    const next = () => new Promise<Buffer>((r) => ws.once('message', (m) => r(m as Buffer)));
    let m = next();
    ws.send('hello');
    assert.equal((await m).toString(), 'hello');
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    m = next();
    ws.send(big);
    assert.ok((await m).equals(big));
    ws.close();
    await new Promise((r) => ws.once('close', r));
    await until('the upgrade access record', () => access.find((a) => a.app === 'ws' && a.status === 101));
  });

  it('relays a WebSocket over TLS (wss)', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${httpsPort}/chat`, { headers: { host: 'ws.localhost' }, rejectUnauthorized: false });
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    const echoed = new Promise<Buffer>((r) => ws.once('message', (m) => r(m as Buffer)));
    ws.send('over tls');
    assert.equal((await echoed).toString(), 'over tls');
    ws.close();
    await new Promise((r) => ws.once('close', r));
  });

  it('keeps connections alive on both sides', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const connsBefore = A.connections;
    const rs: Res[] = [];
    for (let i = 0; i < 5; i++) rs.push(await get(port, 'app.localhost', `/k${i}`, { agent }));
    agent.destroy();
    assert.ok(rs.every((r) => r.status === 200));
    assert.deepEqual(rs.map((r) => r.reused), [false, true, true, true, true]);
    assert.ok(A.connections - connsBefore <= 1, 'one backend connection, reused');
  });

  it('answers pipelined requests in order, HEAD/204/304 without bodies', async () => {
    const r = await raw(port,
      'HEAD /h HTTP/1.1\r\nHost: app.localhost\r\n\r\n' +
      'GET /status/204 HTTP/1.1\r\nHost: app.localhost\r\n\r\n' +
      'GET /status/304 HTTP/1.1\r\nHost: app.localhost\r\n\r\n' +
      'GET /last HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n\r\n');
    assert.equal(r.closed, true);
    const statuses = [...r.text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 204, 304, 200]);
    assert.match(r.text, /"url":"\/last"/);
    assert.doesNotMatch(r.text, /"url":"\/h"/, 'HEAD got no body');
  });

  it('keeps pipelined requests with bodies apart', async () => {
    const r = await raw(port,
      'POST /p1 HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /p2 HTTP/1.1\r\nHost: app.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
      'GET /p3 HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n\r\n');
    const bodies = [...r.text.matchAll(/\{"server".*?"n":(\d+)\}/g)].map((m) => [JSON.parse(m[0]).url, Number(m[1])]);
    assert.deepEqual(bodies, [['/p1', 5], ['/p2', 3], ['/p3', 0]]);
  });

  it('speaks HTTP/1.0: closes unless asked to keep alive', async () => {
    const closed = await raw(port, 'GET /ten HTTP/1.0\r\nHost: app.localhost\r\n\r\n');
    assert.equal(closed.closed, true);
    assert.match(closed.text, /^HTTP\/1\.1 200 [^]*Connection: close\r\n/i);
    assert.match(closed.text, /"url":"\/ten"/);
    const kept = await raw(port, 'GET /ten HTTP/1.0\r\nHost: app.localhost\r\nConnection: keep-alive\r\n\r\n', 500);
    assert.equal(kept.closed, false);
    assert.match(kept.text, /Connection: keep-alive\r\n/i);
  });

  it('re-frames a body that ends with the backend closing as chunked, keeping the client connection', async () => {
    const closer = await startRaw((s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end')));
    table.hosts.set('closer.localhost', route('closer', [backend('C1', closer.port)]));
    try {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const a = await get(port, 'closer.localhost', '/', { agent });
      const b = await get(port, 'closer.localhost', '/', { agent });
      agent.destroy();
      assert.equal(a.body, 'until the end');
      assert.equal(a.headers['transfer-encoding'], 'chunked');
      assert.equal(b.body, 'until the end');
      assert.equal(b.reused, true, 'the client connection stayed open');
      const old = await raw(port, 'GET / HTTP/1.0\r\nHost: closer.localhost\r\n\r\n');
      assert.match(old.text, /\r\n\r\nuntil the end$/, 'HTTP/1.0 reads until close');
    } finally {
      await new Promise((r) => closer.server.close(r));
    }
  });

  it('reads a final head that arrives in pieces after a 100 Continue', async () => {
    const slow = await startRaw((s) =>
      s.once('data', () => {
        s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Part: one');
        // long enough that the next read lands over where the first piece sat in the read buffer
        setTimeout(() => s.write(`\r\nX-More: ${'two'.repeat(40)}\r\n`), 30);
        setTimeout(() => s.write('Content-Length: 2\r\n\r\nok'), 60);
      }),
    );
    table.hosts.set('pieces.localhost', route('pieces', [backend('P1', slow.port)]));
    try {
      const r = await get(port, 'pieces.localhost', '/', { method: 'PUT', body: 'x' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-part'], 'one');
      assert.equal(r.headers['x-more'], 'two'.repeat(40));
      assert.equal(r.body, 'ok');
    } finally {
      for (const s of slow.sockets) s.destroy();
      await new Promise((done) => slow.server.close(done));
    }
  });

  it('handles heads and bodies that arrive one byte at a time, both ways', async () => {
    const response = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
    const dribble = async (s: Socket, text: string) => {
      for (const ch of text) {
        if (s.destroyed) return;
        s.write(ch);
        await sleep(1);
      }
    };
    const seen: string[] = [];
    const trickle = await startRaw((s) => {
      s.setNoDelay(true);
      let got = '';
      s.on('data', (d) => {
        got += d.toString('latin1');
        if (got.endsWith('0\r\n\r\n')) {
          seen.push(got);
          void dribble(s, response);
        }
      });
    });
    table.hosts.set('trickle.localhost', route('trickle', [backend('T1', trickle.port)]));
    try {
      const c = connect({ host: '127.0.0.1', port });
      c.setNoDelay(true);
      await new Promise((r) => c.once('connect', r));
      let text = '';
      c.on('data', (d) => (text += d.toString('latin1')));
      await dribble(c, 'POST /t HTTP/1.1\r\nHost: trickle.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
      await until('the whole response', () => text.endsWith('0\r\n\r\n'), 5000, 10);
      c.destroy();
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/);
      assert.match(seen[0], /^POST \/t HTTP\/1\.1\r\n[^]*\r\n\r\n3\r\nabc\r\n0\r\n\r\n$/);
    } finally {
      for (const s of trickle.sockets) s.destroy();
      await new Promise((done) => trickle.server.close(done));
    }
  });

  it('streams chunked bodies both ways', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/echo', method: 'POST', headers: { host: 'app.localhost', 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
        assert.equal(res.headers['transfer-encoding'], 'chunked');
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.write('alpha-');
      setTimeout(() => req.end('omega'), 30);
    });
    assert.equal(body, 'alpha-omega');
    const c = await get(port, 'app.localhost', '/chunked');
    assert.equal(c.body, 'one,two,three');
  });

  it('passes Expect: 100-continue through', async () => {
    const got = await new Promise<{ continued: boolean; body: string }>((resolve, reject) => {
      let continued = false;
      const req = request({ host: '127.0.0.1', port, path: '/upload', method: 'PUT', headers: { host: 'app.localhost', expect: '100-continue', 'content-length': 5 }, agent: false }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ continued, body: b }));
      });
      req.on('continue', () => {
        continued = true;
        req.end('12345');
      });
      req.on('error', reject);
    });
    assert.equal(got.continued, true);
    assert.equal(JSON.parse(got.body).n, 5);
  });
});

describe('headers', () => {
  it('adds X-Forwarded-*, X-Request-Id, X-Request-Start and Via; strips hop-by-hop fields', async () => {
    const r = await raw(port,
      'GET /h HTTP/1.1\r\nHost: app.localhost:1234\r\nConnection: close, X-Custom\r\nX-Custom: secret\r\nKeep-Alive: timeout=5\r\n' +
      'TE: trailers\r\nProxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Forwarded-For: 10.1.2.3\r\n' +
      'X-Forwarded-Proto: gopher\r\nVia: 1.0 edge\r\nX-Request-Id: req-123\r\nX-Other: kept\r\n\r\n');
    const j = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4));
    const h = j.headers;
    assert.equal(h['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-port'], String(port));
    assert.equal(h['x-forwarded-host'], 'app.localhost:1234');
    assert.equal(h['x-request-id'], 'req-123');
    assert.match(h['x-request-start'], /^t=\d{13}$/);
    assert.equal(h.via, '1.0 edge, 1.1 slipway');
    assert.equal(h['x-other'], 'kept');
    for (const gone of ['x-custom', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'upgrade']) assert.equal(h[gone], undefined, gone);
    assert.notEqual(h.connection, 'close', 'the backend connection stays alive');
    const made = JSON.parse((await get(port, 'app.localhost')).body).headers['x-request-id'];
    assert.match(made, /^[0-9a-f-]{36}$/);
  });

  it('strips hop-by-hop fields from responses', async () => {
    const r = await get(port, 'app.localhost', '/hop');
    assert.equal(r.headers['x-kept'], 'yes');
    assert.equal(r.headers['x-resp'], undefined);
    assert.equal(r.headers['keep-alive'], undefined);
  });
});

describe('failing backends', () => {
  it('answers 504 for a backend that never answers, and other apps are unaffected', async () => {
    const t0 = Date.now();
    const slow = get(port, 'hang.localhost', '/wait');
    const others = await Promise.all([get(port, 'app.localhost'), get(port, 'other.localhost')]);
    assert.ok(others.every((o) => o.status === 200));
    const r = await slow;
    assert.equal(r.status, 504);
    assert.match(r.body, /did not answer within 0\.6 s/);
    assert.ok(Date.now() - t0 >= 550);
    await until('the hung socket is closed by the router', () => hang.sockets.size === 0, 5000, 20);
  });

  it('goes on with a pipelined request after answering 504 itself', async () => {
    const r = await raw(port, 'GET /wait HTTP/1.1\r\nHost: hang.localhost\r\n\r\nGET /after HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n\r\n', 5000);
    assert.equal(r.closed, true);
    assert.deepEqual([...r.text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => Number(m[1])), [504, 200]);
    assert.match(r.text, /"url":"\/after"/);
  });

  it('answers 502 for a backend that resets the connection', async () => {
    const r = await get(port, 'reset.localhost', '/');
    assert.equal(r.status, 502);
    assert.match(r.body, /reset the connection/);
  });

  it('answers 502 for a malformed response', async () => {
    const r = await get(port, 'garbage.localhost', '/');
    assert.equal(r.status, 502);
    assert.match(r.body, /could not read: a malformed status line/);
  });

  it('retries another backend when a connect fails, and ejects the failing one', async () => {
    const pool = table.hosts.get('retry.localhost')!.pool;
    const dead = pool.backends[0];
    for (let i = 0; i < 20; i++) {
      const r = await get(port, 'retry.localhost', '/r', { method: 'POST', body: 'x' });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).server, 'A');
    }
    assert.equal(dead.failures, 1, 'tried once, then ejected');
    assert.ok(dead.ejectedUntil > Date.now() + 30_000);
    assert.ok(pool.backends.every((b) => b.inflight === 0));
    const rec = access.filter((a) => a.app === 'retry');
    assert.ok(rec.every((a) => a.backend === 'alive' && a.status === 200));
  });

  it('answers 504 when a connect takes longer than connectMs (a backend whose accept queue is full)', async () => {
    // A listening socket that never accepts, with a backlog of one that we fill: further SYNs go unanswered.
    const py = spawn('python3', ['-c', 'import socket,time\ns=socket.socket();s.bind(("127.0.0.1",0));s.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const fullPort = Number(await new Promise<string>((r) => createInterface({ input: py.stdout! }).once('line', r)));
      const filler = connect({ host: '127.0.0.1', port: fullPort });
      await new Promise((r) => filler.once('connect', r));
      const b = backend('full', fullPort);
      table.hosts.set('full.localhost', route('full', [b]));
      const t0 = Date.now();
      const r = await get(port, 'full.localhost', '/');
      assert.equal(r.status, 504);
      assert.match(r.body, /did not accept a connection within 1000 ms/);
      assert.ok(Date.now() - t0 >= 950);
      assert.ok(b.ejectedUntil > Date.now(), 'ejected');
      filler.destroy();
    } finally {
      const gone = new Promise((r) => py.once('exit', r));
      process.kill(py.pid!, 'SIGKILL');
      await gone;
    }
  });

  it('answers 502 naming the cause when no backend accepts connections', async () => {
    const r = await get(port, 'down.localhost', '/');
    assert.equal(r.status, 502);
    assert.match(r.body, /could not connect to down \(ECONNREFUSED\)/);
    const again = await get(port, 'down.localhost', '/');
    assert.equal(again.status, 503, 'both ejected now');
  });
});

describe('backend churn under load', () => {
  it('adds, drains and removes backends 20 times with no failed request', async () => {
    const servers: TestBackend[] = [await startBackend('c0'), await startBackend('c1')];
    const pool = { service: 'churn-web', backends: servers.map((b, i) => backend(`c${i}`, b.port)) as readonly Backend[] };
    table.hosts.set('churn.localhost', { app: appRoute('churn'), pool });
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    let running = true;
    let ok = 0;
    const failures: string[] = [];
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        try {
          const r = await get(port, 'churn.localhost', `/w${w}/${i}`, w % 2 ? { agent, method: 'POST', body: 'payload' } : { agent });
          if (r.status === 200) ok++;
          else failures.push(`${r.status} ${r.body.slice(0, 200)}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const load = Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    let n = servers.length;
    for (let round = 0; round < 20; round++) {
      const fresh = await startBackend(`c${n}`);
      servers.push(fresh);
      pool.backends = [...pool.backends, backend(`c${n++}`, fresh.port)];
      await sleep(40);
      // drain the oldest: no new requests, in-flight ones finish, then it goes away
      const old = pool.backends[0];
      old.draining = true;
      await until('the drained backend is idle', () => old.inflight === 0, 5000, 5);
      pool.backends = pool.backends.slice(1);
      const gone = servers.shift()!;
      gone.server.closeIdleConnections();
      await new Promise((r) => gone.server.close(r));
      await sleep(20);
    }
    running = false;
    await load;
    agent.destroy();
    for (const b of servers) {
      b.server.closeAllConnections();
      await new Promise((r) => b.server.close(r));
    }
    assert.deepEqual(failures, []);
    assert.ok(ok > 200, `${ok} requests`);
  });

  it('does not reuse a connection the backend is about to close (its Keep-Alive timeout)', async () => {
    const b = await startBackend('short');
    b.server.keepAliveTimeout = 1000; // Node says "Keep-Alive: timeout=1"
    table.hosts.set('short.localhost', route('short', [backend('s1', b.port)]));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal((await get(port, 'short.localhost', '/1', { agent, method: 'POST', body: 'a' })).status, 200);
    await get(port, 'short.localhost', '/2', { agent, method: 'POST', body: 'a' });
    assert.equal(b.connections, 1, 'reused while fresh');
    await sleep(850);
    assert.equal((await get(port, 'short.localhost', '/3', { agent, method: 'POST', body: 'a' })).status, 200);
    assert.equal(b.connections, 2, 'a new connection once the old one was near its end');
    agent.destroy();
    b.server.closeAllConnections();
    await new Promise((r) => b.server.close(r));
  });
});

describe('timeouts and close', () => {
  it('closes idle keep-alive clients after idleMs; close() drains requests in flight', async () => {
    const p2 = createProxy({ table, log: silentLogger, timeouts: { idleMs: 300 } });
    const p2port = (await p2.listenHttp('127.0.0.1', 0)).port;
    const t0 = Date.now();
    const idle = await raw(p2port, 'GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n', 3000);
    assert.equal(idle.closed, true);
    assert.ok(Date.now() - t0 >= 300 && Date.now() - t0 < 2000, `closed after ${Date.now() - t0} ms`);

    const keptAlive = connect({ host: '127.0.0.1', port: p2port });
    const keptClosed = new Promise((r) => keptAlive.once('close', r));
    keptAlive.on('error', () => undefined);
    await new Promise((r) => keptAlive.once('connect', r));
    const slow = get(p2port, 'app.localhost', '/slow');
    await sleep(50);
    const closing = p2.close(3000);
    await keptClosed; // the idle one goes at once
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'slow done');
    assert.equal(r.headers.connection, 'close');
    await closing;
    await assert.rejects(get(p2port, 'app.localhost', '/'), /ECONNREFUSED/);
  });
});

describe('bad input: 400, the connection closed, nothing forwarded', () => {
  const cases: [string, string, number][] = [
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: app.localhost\r\nX-A: 1\r\n  continued\r\n\r\n', 400],
    ['a final coding other than chunked', 'POST / HTTP/1.1\r\nHost: app.localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n', 400],
    ['a bad chunk size', 'POST / HTTP/1.1\r\nHost: app.localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', 400],
    ['a chunk size with a sign', 'POST / HTTP/1.1\r\nHost: app.localhost\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n', 400],
    ['a malformed request line', 'GET /\r\nHost: app.localhost\r\n\r\n', 400],
    ['bare LF line endings', 'GET / HTTP/1.1\nHost: app.localhost\n\n', 400],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : app.localhost\r\n\r\n', 400],
    ['a header line without a colon', 'GET / HTTP/1.1\r\nHost: app.localhost\r\nnonsense\r\n\r\n', 400],
    ['a NUL in a value', 'GET / HTTP/1.1\r\nHost: app.localhost\r\nX: a\x00b\r\n\r\n', 400],
    ['no Host', 'GET / HTTP/1.1\r\nX: 1\r\n\r\n', 400],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: app.localhost\r\nHost: other.localhost\r\n\r\n', 400],
    ['an unknown version', 'GET / HTTP/3.0\r\nHost: app.localhost\r\n\r\n', 400],
    ['oversized headers', `GET / HTTP/1.1\r\nHost: app.localhost\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431],
  ];
  for (const [name, bytes, status] of cases) {
    it(name, async () => {
      const before = A.requests;
      const r = await raw(port, bytes);
      assert.match(r.text, new RegExp(`^HTTP/1\\.1 ${status} `), r.text.slice(0, 200));
      assert.equal(r.closed, true, 'the router closes the connection');
      await sleep(20);
      assert.equal(A.requests, before, 'the backend saw nothing');
    });
  }

  it('an oversized head that never ends is refused too', async () => {
    const r = await raw(port, `GET / HTTP/1.1\r\nHost: app.localhost\r\nX-Big: ${'a'.repeat(20 * 1024)}`);
    assert.match(r.text, /^HTTP\/1\.1 431 /);
  });
});

describe('records and metrics', () => {
  it('hands one access record per request to onAccess', async () => {
    const r = await get(port, 'app.localhost', '/recorded?q=1', { method: 'POST', body: 'hello', headers: { 'x-request-id': 'rec-1' } });
    assert.equal(r.status, 200);
    const rec = await until('the record', () => access.find((a) => a.requestId === 'rec-1'));
    assert.equal(rec.app, 'a');
    assert.equal(rec.method, 'POST');
    assert.equal(rec.host, 'app.localhost');
    assert.equal(rec.path, '/recorded');
    assert.equal(rec.status, 200);
    assert.equal(rec.backend, 'A1');
    assert.ok(rec.bytesIn > 5 && rec.bytesOut > r.body.length);
    assert.ok(rec.durationMs >= 0);
    assert.ok(!Number.isNaN(Date.parse(rec.time)));
    assert.equal(rec.error, undefined);
    assert.ok(access.some((a) => a.status === 404 && a.error === 'unknown_host'));
    assert.ok(access.some((a) => a.status === 400 && a.error === 'bad_request'));
    assert.ok(access.some((a) => a.status === 504 && a.error === 'timeout'));
  });

  it('serves Prometheus counters per app', async () => {
    const text = proxy.metricsText();
    const m = /slipway_router_requests_total\{app="a",class="2xx"\} (\d+)/.exec(text);
    assert.ok(m && Number(m[1]) > 10, text.slice(0, 300));
    assert.match(text, /slipway_router_requests_total\{app="hang",class="5xx"\} 2\n/, 'two 504s');
    assert.match(text, /slipway_router_request_duration_seconds_bucket\{app="a",le="\+Inf"\} \d+/);
    assert.match(text, /slipway_router_request_duration_seconds_count\{app="a"\} \d+/);
    assert.match(text, /slipway_router_errors_total\{cause="timeout"\} 3\n/, 'two first-byte timeouts and a connect timeout');
  });
});

describe('100 MB each way with flat memory (the proxy in its own process)', () => {
  let child: ChildProcess;
  let proxied: { port: number; pid: number };
  const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proxied.pid}/status`, 'utf8'))![1]) / 1024;

  before(async () => {
    // the bench's router process: a static table sending bench.localhost to one backend
    child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/bench/router.ts'), 'serve-router', String(A.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    proxied = await new Promise((resolve, reject) => {
      child.once('exit', (c) => reject(new Error(`router process exited (${c})`)));
      createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l)));
    });
  });
  after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      process.kill(child.pid!, 'SIGKILL');
      await gone;
    }
  });

  async function watchRss<T>(work: Promise<T>): Promise<{ result: T; growth: number }> {
    const base = rssMiB();
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, rssMiB())), 25);
    try {
      return { result: await work, growth: peak - base };
    } finally {
      clearInterval(timer);
    }
  }

  it('uploads 100 MB', async () => {
    await get(proxied.port, 'bench.localhost'); // warm
    const size = 100 * 1024 * 1024;
    const { result, growth } = await watchRss(new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: proxied.port, path: '/upload', method: 'POST', headers: { host: 'bench.localhost', 'content-length': size }, agent: false }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      const block = Buffer.alloc(64 * 1024, 'u');
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          sent += block.length;
          if (!req.write(block)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    }));
    assert.equal(JSON.parse(result).n, size);
    assert.ok(growth < 50, `the router's RSS grew ${growth.toFixed(1)} MiB`);
  });

  it('downloads 100 MB', async () => {
    const { result, growth } = await watchRss(new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: proxied.port, path: '/big', headers: { host: 'bench.localhost' }, agent: false }, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => resolve(n));
      });
      req.on('error', reject);
      req.end();
    }));
    assert.equal(result, 100 * 1024 * 1024);
    assert.ok(growth < 50, `the router's RSS grew ${growth.toFixed(1)} MiB`);
  });
});
