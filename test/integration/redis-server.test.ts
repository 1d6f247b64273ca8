// The embedded Redis: DESIGN.md's settings, acknowledged writes surviving a SIGKILL, TCP only
// with a password, and clients that reconnect by themselves.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '../../layer0/discovery/redis-server.ts';
import { connectRedis } from '../../layer0/discovery/redis.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** One inline command over a bare TCP connection: what a client without the password gets. */
function rawCommand(port: number, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(`${cmd}\r\n`));
    sock.once('data', (d) => {
      sock.destroy();
      resolve(d.toString());
    });
    sock.once('error', reject);
  });
}

describe('embedded redis-server', () => {
  let r: TestRedis;
  before(async () => {
    r = await startTestRedis();
  });
  after(async () => {
    await r?.cleanup();
  });

  test('runs with the durability settings, on a private unix socket only', async () => {
    const c = r.connect();
    const get = async (k: string) => ((await c.config('GET', k)) as string[])[1];
    assert.equal(await get('appendonly'), 'yes');
    assert.equal(await get('appendfsync'), 'always');
    assert.equal(await get('maxmemory-policy'), 'noeviction');
    assert.equal(await get('save'), '');
    assert.equal(await get('port'), '0');
    assert.equal(statSync(r.socketPath).mode & 0o777, 0o700);
    assert.match(r.url, /^redis\+unix:\/\//);
    assert.ok(process.kill(r.server.pid, 0));
  });

  test('every acknowledged write survives a SIGKILL', async () => {
    const c = r.connect();
    const n = 300;
    // Concurrent writes: the last acknowledgement arrives just before the kill.
    await Promise.all(Array.from({ length: n }, (_, i) => c.set(`k${i}`, String(i))));
    await c.incr('counter');
    await r.kill();
    await r.restart();
    const check = connectRedis(r.url);
    try {
      assert.equal(await check.get('counter'), '1');
      const vals = await check.mget(Array.from({ length: n }, (_, i) => `k${i}`));
      assert.deepEqual(vals, Array.from({ length: n }, (_, i) => String(i)));
    } finally {
      check.disconnect();
    }
  });

  test('a client reconnects by itself, and a command sent while Redis is down completes after the restart', async () => {
    const c = r.connect();
    await c.set('before', '1');
    await r.kill();
    const pending = c.incr('during');
    await new Promise((res) => setTimeout(res, 300));
    await r.restart();
    assert.equal(await pending, 1);
    assert.equal(await c.get('before'), '1');
  });

  test('stop() shuts down gracefully and the data is still there on the next start', async () => {
    const c = r.connect();
    await c.set('graceful', 'yes');
    const pid = r.server.pid;
    await r.server.stop();
    assert.deepEqual((await r.server.exited).code, 0);
    assert.throws(() => process.kill(pid, 0));
    await r.restart();
    assert.equal(await c.get('graceful'), 'yes');
  });
});

describe('embedded redis-server on TCP', () => {
  test('requires the password and listens only on the asked host', async () => {
    const dir = mkdtempSync(join(tmpdir(), `${process.env.SLIPWAY_TEST_PREFIX ?? 'slwt'}-redis-tcp-`));
    const port = await freePort();
    const server = await startRedis({ dir: join(dir, 'data'), socketPath: join(dir, 'r.sock'), tcp: { host: '127.0.0.1', port, password: 's3cret' } });
    try {
      assert.equal(server.tcpUrl, `redis://:s3cret@127.0.0.1:${port}`);
      assert.match(await rawCommand(port, 'SET x 1'), /^-NOAUTH/);
      const c = connectRedis(server.tcpUrl!);
      assert.equal(await c.set('x', '1'), 'OK');
      const viaSocket = connectRedis(server.url);
      assert.equal(await viaSocket.get('x'), '1');
      assert.deepEqual(await viaSocket.config('GET', 'bind'), ['bind', '127.0.0.1']);
      c.disconnect();
      viaSocket.disconnect();
    } finally {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses TCP without a password, and reports a server that cannot start', async () => {
    const dir = mkdtempSync(join(tmpdir(), `${process.env.SLIPWAY_TEST_PREFIX ?? 'slwt'}-redis-bad-`));
    try {
      await assert.rejects(startRedis({ dir, socketPath: join(dir, 's'), tcp: { host: '127.0.0.1', port: 1, password: '' } }), /password/);
      await assert.rejects(startRedis({ dir, socketPath: join(dir, 's'), binary: join(dir, 'no-such-redis') }), /did not start/);
      await assert.rejects(
        startRedis({ dir, socketPath: join(dir, 'no', 'such', 'dir', 's.sock'), startTimeoutMs: 3000 }),
        (e: Error & { code?: string }) => e.code === 'unavailable',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
