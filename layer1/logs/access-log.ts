// The router's access records into the apps' logs for a router that runs on its own (`slipway
// router`, one per joined host), where no shipper is in the process to take them: the same
// RouterLines and LogWriter the shipper uses, on their own Redis connection.
import { silentLogger, type Logger } from '../../layer0/common/logger.ts';
import { connectRedis } from '../../layer0/discovery/client.ts';
import type { AccessRecord } from '../router/types.ts';
import { RouterLines } from './router-lines.ts';
import { LogKeys } from './types.ts';
import { LogWriter } from './writer.ts';

export interface AccessLog {
  /** Hand to `startRouter({ onAccess })`; never waits. */
  record(r: AccessRecord): void;
  /** Writes what is queued (up to a few seconds), then disconnects. */
  close(): Promise<void>;
}

export function startAccessLog(o: { redisUrl: string; log?: Logger; keyPrefix?: string; metricsMs?: number }): AccessLog {
  const log = (o.log ?? silentLogger).child({ component: 'access-log' });
  const keys = new LogKeys(o.keyPrefix ?? 'ctl:');
  const redis = connectRedis(o.redisUrl, { log, name: 'slipway-router-logs' });
  const writer = new LogWriter(redis, keys, log);
  const lines = new RouterLines(redis, keys, writer, log, o.metricsMs);
  return {
    record: (r) => lines.record(r),
    async close() {
      await lines.close();
      await writer.close();
      redis.disconnect();
    },
  };
}
