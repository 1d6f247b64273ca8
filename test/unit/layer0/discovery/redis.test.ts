import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, formatRedisUrl, parseRedisUrl, redact } from '../../../../layer0/discovery/redis.ts';
import { redisConfig } from '../../../../layer0/discovery/redis-server.ts';

test('parses unix socket URLs in every spelling', () => {
  assert.deepEqual(parseRedisUrl('redis+unix:///run/slipway/redis.sock'), { path: '/run/slipway/redis.sock' });
  assert.deepEqual(parseRedisUrl('unix:///tmp/r.sock'), { path: '/tmp/r.sock' });
  assert.deepEqual(parseRedisUrl('/tmp/r.sock'), { path: '/tmp/r.sock' });
  assert.deepEqual(parseRedisUrl('redis+unix:///tmp/r.sock?password=s%26cret&db=2'), { path: '/tmp/r.sock', password: 's&cret', db: 2 });
});

test('parses TCP URLs with a password, a port and a database', () => {
  assert.deepEqual(parseRedisUrl('redis://:p%40ss@127.0.0.1:6380'), { host: '127.0.0.1', port: 6380, password: 'p@ss' });
  assert.deepEqual(parseRedisUrl('redis://127.0.0.1'), { host: '127.0.0.1', port: 6379 });
  assert.deepEqual(parseRedisUrl('redis://user:pw@10.0.0.1:7000/3'), { host: '10.0.0.1', port: 7000, username: 'user', password: 'pw', db: 3 });
  assert.deepEqual(parseRedisUrl('redis://[::1]:6379'), { host: '::1', port: 6379 });
});

test('rejects what is not a Redis URL', () => {
  for (const bad of ['http://x', 'redis+unix://host/path', 'unix://', 'nonsense', 'redis://h:1/abc']) {
    assert.throws(() => parseRedisUrl(bad), (e: Error & { code?: string }) => e.code === 'invalid_params', bad);
  }
});

test('formats URLs that parse back to the same target', () => {
  for (const t of [{ path: '/tmp/a.sock' }, { path: '/tmp/a.sock', password: 'x y&z' }, { host: '127.0.0.1', port: 7001, password: 'p:w@' }, { host: '::1', port: 6379 }]) {
    assert.deepEqual(parseRedisUrl(formatRedisUrl(t)), t);
  }
});

test('redacts passwords in logs', () => {
  assert.equal(redact('redis://:secret@127.0.0.1:6379'), 'redis://:***@127.0.0.1:6379');
  assert.equal(redact('redis+unix:///s.sock?password=secret&db=1'), 'redis+unix:///s.sock?password=***&db=1');
});

test('reconnect back-off grows and is capped', () => {
  assert.ok(backoffMs(1) <= 50);
  assert.ok(backoffMs(3) > backoffMs(1));
  for (let i = 1; i < 100; i++) assert.ok(backoffMs(i, 1000) <= 1000);
  assert.ok(backoffMs(50, 1000) >= 800);
});

test('the server config carries the durability settings', () => {
  const conf = redisConfig({ dir: '/d', socketPath: '/s.sock' });
  for (const line of ['appendonly yes', 'appendfsync always', 'maxmemory-policy noeviction', 'save ""', 'port 0', 'unixsocketperm 700', 'unixsocket "/s.sock"', 'dir "/d"']) {
    assert.ok(conf.split('\n').includes(line), line);
  }
  assert.doesNotMatch(conf, /requirepass/);
});

test('TCP needs a password and binds the asked host', () => {
  assert.throws(() => redisConfig({ dir: '/d', socketPath: '/s', tcp: { host: '127.0.0.1', port: 7000, password: '' } }), /password/);
  const conf = redisConfig({ dir: '/d', socketPath: '/s', tcp: { host: '10.1.0.1', port: 7000, password: 'pw"x' } });
  assert.match(conf, /^port 7000$/m);
  assert.match(conf, /^bind 10\.1\.0\.1$/m);
  assert.match(conf, /^requirepass "pw\\"x"$/m);
  assert.doesNotMatch(conf, /^port 0$/m);
});
