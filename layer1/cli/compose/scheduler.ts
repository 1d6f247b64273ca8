// Composition root of `slipway scheduler`: a leader-elected scheduler process (hot standbys
// may run beside it) over the cluster's Redis; stops cleanly on SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import { createLogger } from '../../../layer0/common/logger.ts';
import { createDiscovery } from '../../../layer0/discovery/client.ts';
import { startScheduler } from '../../../layer0/scheduler/scheduler.ts';

export interface SchedulerFlags {
  redis?: string;
  tokenFile?: string;
}

export async function runScheduler(flags: SchedulerFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const log = createLogger('scheduler');
  const url = flags.redis ?? env.SLIPWAY_REDIS_URL;
  if (!url) throw new Error('the scheduler needs Redis: --redis URL (or SLIPWAY_REDIS_URL)');
  const agentToken = flags.tokenFile ? readFileSync(flags.tokenFile, 'utf8').trim() : env.SLIPWAY_AGENT_TOKEN;
  const discovery = createDiscovery({ url, log: log.child({ component: 'discovery' }) });
  const scheduler = startScheduler({ redisUrl: url, discovery, agentToken, log });
  log.info({ id: scheduler.id }, 'scheduler campaigning');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping scheduler');
    scheduler.close().then(() => discovery.close()).then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'scheduler close failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
