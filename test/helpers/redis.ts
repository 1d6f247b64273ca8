// A fresh redis-server per test file: unix socket in a temp dir (named with the test prefix so
// the suite's leak check finds a leftover), killed by pid in `after`. Restartable on the same dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startRedis, type RedisServer } from '../../layer0/discovery/redis-server.ts';
import { connectRedis, type Redis } from '../../layer0/discovery/redis.ts';

export interface TestRedis {
  readonly dir: string;
  readonly socketPath: string;
  /** Stable across restarts. */
  readonly url: string;
  readonly server: RedisServer;
  /** A key prefix unique to the caller, so tests in one file do not see each other. */
  prefix(name?: string): string;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts redis-server again on the same dir and socket (after kill/stop). */
  restart(): Promise<void>;
  /** A client connection (closed by cleanup). */
  connect(): Redis;
  cleanup(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  const tag = process.env.SLIPWAY_TEST_PREFIX ?? `slwt${randomBytes(2).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `${tag}-redis-`));
  const socketPath = join(dir, 'redis.sock');
  const start = () => startRedis({ dir: join(dir, 'data'), socketPath, dieWithParent: true });
  let server = await start();
  const conns: Redis[] = [];
  let n = 0;
  return {
    dir,
    socketPath,
    url: server.url,
    get server() {
      return server;
    },
    prefix: (name = 't') => `${name}${++n}:`,
    kill: () => server.kill(),
    async restart() {
      await server.kill();
      server = await start();
    },
    connect() {
      const c = connectRedis(server.url, { maxBackoffMs: 100 });
      conns.push(c);
      return c;
    },
    async cleanup() {
      for (const c of conns) c.disconnect();
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
