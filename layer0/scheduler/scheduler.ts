// The scheduler process: campaigns for leadership; while it leads, runs the reconciler with
// its fencing token; when deposed, stops at once (agents refuse its stale token anyway).
// Several run as hot standbys (`slipway scheduler`, one per host in `slipway cluster up`).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createLogger, type Logger } from '../common/logger.ts';
import { connectRedis } from '../discovery/redis.ts';
import { SCHEDULER_ELECTION, type Discovery, type Leadership } from '../discovery/types.ts';
import { Reconciler } from './reconciler.ts';
import { SchedulerStore } from './store.ts';

export interface SchedulerOptions {
  redisUrl: string;
  discovery: Discovery;
  agentToken?: string;
  keyPrefix?: string;
  log?: Logger;
  /** Leadership TTL: a standby takes over this long after the leader dies (default 5000). */
  ttlMs?: number;
  resyncMs?: number;
  id?: string;
}

export interface RunningScheduler {
  readonly id: string;
  readonly isLeader: boolean;
  readonly token: number;
  close(): Promise<void>;
}

export function startScheduler(o: SchedulerOptions): RunningScheduler {
  const log = (o.log ?? createLogger('scheduler')).child({ component: 'scheduler' });
  const id = o.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const redis = connectRedis(o.redisUrl, { log, name: 'scheduler' });
  const store = new SchedulerStore(redis, o.keyPrefix);
  const wake = connectRedis(o.redisUrl, { log, name: 'scheduler-wake' });
  let reconciler: Reconciler | null = null;
  let switching = Promise.resolve();
  const leadership: Leadership = o.discovery.campaign(SCHEDULER_ELECTION, { id, meta: { pid: String(process.pid) } }, { ttlMs: o.ttlMs });

  const lead = (token: number) => {
    switching = switching.then(async () => {
      await reconciler?.stop();
      log.info({ id, token }, 'elected scheduler leader');
      reconciler = new Reconciler({ store, discovery: o.discovery, agentToken: o.agentToken, fencingToken: token, log, resyncMs: o.resyncMs });
      await reconciler.start();
    });
  };
  const step = () => {
    switching = switching.then(async () => {
      log.warn({ id }, 'no longer the scheduler leader');
      await reconciler?.stop();
      reconciler = null;
    });
  };
  leadership.on('elected', lead);
  leadership.on('deposed', step);
  void wake.subscribe(store.keys.wake);
  wake.on('message', () => reconciler?.kick());

  return {
    id,
    get isLeader() {
      return leadership.isLeader;
    },
    get token() {
      return leadership.token;
    },
    async close() {
      await leadership.resign();
      await switching;
      await reconciler?.stop();
      wake.disconnect();
      redis.disconnect();
    },
  };
}
