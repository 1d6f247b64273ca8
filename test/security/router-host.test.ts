// The router's request heads as a hostile client writes them (issue 13, M4), against the real
// proxy and route table, with raw-socket backends that record the exact head they get: an
// absolute-form request reaches the app it names with that Host (never the client's), `Connection`
// cannot remove Host or the forwarding fields, names with `_` are dropped, a malformed Host is 400.
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../layer0/common/logger.ts';
import { CertStore } from '../../layer1/router/certs.ts';
import { createProxy, type Proxy } from '../../layer1/router/proxy/index.ts';
import { LiveRouteTable } from '../../layer1/router/table.ts';
import type { AppRoute, BackendPool } from '../../layer1/router/types.ts';

interface RawBackend { server: Server; port: number; heads: string[] }

/** A backend that answers its name and keeps every request head it got, byte for byte. */
async function rawBackend(name: string): Promise<RawBackend> {
  const b = { heads: [] as string[] } as RawBackend;
  b.server = createServer((sock) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        b.heads.push(buf.slice(0, end + 4));
        buf = buf.slice(end + 4);
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${name.length}\r\n\r\n${name}`);
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = (b.server.address() as AddressInfo).port;
  return b;
}

/** Sends raw bytes, resolves with what came back once the connection closes (or after a pause). */
function raw(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(head));
    let out = '';
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (/\r\n\r\n/.test(out) && /Content-Length: (\d+)/i.test(out)) {
        const n = Number(/Content-Length: (\d+)/i.exec(out)![1]);
        if (out.length - out.indexOf('\r\n\r\n') - 4 >= n) s.end();
      }
    });
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  });
}

let proxy: Proxy;
let port: number;
let victim: RawBackend;
let attacker: RawBackend;
const app = (id: string, name: string): AppRoute => ({ id, name, service: `${name}-web`, domains: [], paths: [], maintenance: false, httpsRedirect: false });

before(async () => {
  victim = await rawBackend('victim');
  attacker = await rawBackend('attacker');
  const pools = new Map<string, BackendPool>([
    ['victim-web', { service: 'victim-web', backends: [{ id: 'v1', host: '127.0.0.1', port: victim.port, inflight: 0, ejectedUntil: 0, failures: 0, draining: false }] }],
    ['attacker-web', { service: 'attacker-web', backends: [{ id: 'a1', host: '127.0.0.1', port: attacker.port, inflight: 0, ejectedUntil: 0, failures: 0, draining: false }] }],
  ]);
  const table = new LiveRouteTable('localhost', (s) => pools.get(s) ?? { service: s, backends: [] }, new CertStore(silentLogger));
  table.setRoutes([app('a1', 'victim'), app('a2', 'attacker')]);
  proxy = createProxy({ table, log: silentLogger });
  port = (await proxy.listenHttp('127.0.0.1', 0)).port;
});

after(async () => {
  await proxy?.close(0);
  for (const b of [victim, attacker]) await new Promise<void>((r) => b?.server.close(() => r()));
});

describe('router heads (M4)', () => {
  it('an absolute-form request goes to the app it names, with that app\'s Host', async () => {
    const n = victim.heads.length;
    const res = await raw(port, 'GET http://victim.localhost/admin HTTP/1.1\r\nHost: attacker.localhost\r\nConnection: close\r\n\r\n');
    assert.match(res, /^HTTP\/1.1 200/);
    assert.match(res, /victim$/);
    const head = victim.heads[n]!;
    assert.match(head, /^GET \/admin HTTP\/1.1\r\n/);
    assert.match(head, /\r\nHost: victim\.localhost\r\n/i);
    assert.doesNotMatch(head, /attacker/, 'the client\'s Host never reaches the backend');
  });

  it('Connection: host, x-forwarded-for cannot strip Host or the forwarding fields', async () => {
    const n = victim.heads.length;
    const res = await raw(port, 'GET / HTTP/1.1\r\nHost: victim.localhost\r\nConnection: close, host, x-forwarded-for, x-forwarded-host\r\n\r\n');
    assert.match(res, /^HTTP\/1.1 200/);
    const head = victim.heads[n]!;
    assert.match(head, /\r\nHost: victim\.localhost\r\n/);
    assert.match(head, /\r\nX-Forwarded-For: 127\.0\.0\.1\r\n/);
    assert.match(head, /\r\nX-Forwarded-Host: victim\.localhost\r\n/);
  });

  it('header names with "_" are dropped (X_Forwarded_For cannot pose as X-Forwarded-For)', async () => {
    const n = victim.heads.length;
    await raw(port, 'GET / HTTP/1.1\r\nHost: victim.localhost\r\nX_Forwarded_For: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\nConnection: close\r\n\r\n');
    const head = victim.heads[n]!;
    assert.doesNotMatch(head, /6\.6\.6\.6/);
    assert.doesNotMatch(head, /_/);
  });

  it('a malformed Host or authority is a 400, never forwarded', async () => {
    const before = victim.heads.length + attacker.heads.length;
    for (const head of [
      'GET / HTTP/1.1\r\nHost: victim.localhost/x\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: attacker.localhost@victim.localhost\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: victim.localhost, attacker.localhost\r\n\r\n',
      'GET http://attacker.localhost@victim.localhost/ HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET http:///x HTTP/1.1\r\nHost: victim.localhost\r\n\r\n',
    ]) {
      const res = await raw(port, head);
      assert.match(res, /^HTTP\/1.1 400/, JSON.stringify(head));
    }
    assert.equal(victim.heads.length + attacker.heads.length, before);
  });
});
