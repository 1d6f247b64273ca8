// The platform's Redis for `slipway up` and `slipway agent --cluster`: SLIPWAY_REDIS_URL when
// set, else an embedded redis-server on a unix socket under SLIPWAY_RUN with its data (AOF)
// under SLIPWAY_HOME, started here and stopped by the caller.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../../layer0/common/logger.ts';
import type { SlipwayPaths } from '../../../layer0/common/paths.ts';
import { redisMaxmemory, startRedis } from '../../../layer0/discovery/redis-server.ts';

export interface PlatformRedis {
  url: string;
  /** Stops the embedded server (nothing for an external one). */
  stop(): Promise<void>;
}

export async function platformRedis(paths: SlipwayPaths, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<PlatformRedis> {
  if (env.SLIPWAY_REDIS_URL) return { url: env.SLIPWAY_REDIS_URL, stop: async () => undefined };
  await stopOrphanRedis(paths);
  const server = await startRedis({ dir: join(paths.home, 'redis'), socketPath: join(paths.run, 'redis.sock'), maxmemoryBytes: redisMaxmemory(env), log: log.child({ component: 'redis' }) });
  writeFileSync(pidFile(paths), `${server.pid}\n`);
  log.info({ url: server.url, pid: server.pid }, 'embedded redis started');
  return {
    url: server.url,
    async stop() {
      await server.stop();
      rmSync(pidFile(paths), { force: true });
    },
  };
}

const pidFile = (paths: SlipwayPaths) => join(paths.run, 'redis.pid');

/**
 * Redis runs in its own process group, so it outlives a platform that was SIGKILLed. This stops
 * such an orphan of the same SLIPWAY_HOME (by its pid file, checked against its command line).
 */
export async function stopOrphanRedis(paths: SlipwayPaths): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile(paths), 'utf8').trim());
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(join(paths.home, 'redis'))) throw new Error('not ours');
  } catch {
    rmSync(pidFile(paths), { force: true });
    return;
  }
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
  if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
  rmSync(pidFile(paths), { force: true });
}
