// The log shipper, one per host: follows every Slipway container of its agent (label
// `slipway.app-id`) through the agent API, turns container events into platform lines, takes
// the router's access records, bridges the deploy core's events, sends drains and collects the
// agent's per-container metrics into Redis. Started by `slipway up` (layer1/cli/compose).
import type { Redis } from 'ioredis';
import type { AgentClient } from '../../layer0/agent/client.ts';
import type { AgentEvent } from '../../layer0/agent/types.ts';
import { silentLogger, type Logger } from '../../layer0/common/logger.ts';
import { connectRedis } from '../../layer0/discovery/client.ts';
import { DrainSender } from './drains.ts';
import { Follower, type ContainerTags } from './follower.ts';
import { parseCursor } from './lines.ts';
import { BUILD_TYPE, describeBuildEvent, describeContainerEvent, EventBridge, platformFields } from './platform-lines.ts';
import type { AccessRecord } from '../router/types.ts';
import { RouterLines } from './router-lines.ts';
import { LABELS, LogKeys, type ProcessSample } from './types.ts';
import { LogWriter, type WriterOptions, type WriterStats } from './writer.ts';

export interface ShipperOptions {
  agent: AgentClient;
  redisUrl: string;
  /** The controller's key prefix (default `ctl:`). */
  keyPrefix?: string;
  /** This host's name in metrics samples. */
  host?: string;
  log?: Logger;
  /** Bridge the deploy core's events into app logs (default true; any number of shippers may). */
  bridge?: boolean;
  /** Send drains (default true). */
  drains?: boolean;
  /** How often the agent's metrics are read (default 5 s; 0: never). */
  metricsIntervalMs?: number;
  /** How often the router's per-app counters are written (default 5 s). */
  routerMetricsMs?: number;
  /** How often the container list is read again, besides events (default 10 s). */
  resyncMs?: number;
  writer?: WriterOptions;
}

export interface Shipper {
  /** Hand the router's access records here (`startRouter({ onAccess })`). */
  access(r: AccessRecord): void;
  /** Resolves once everything queued so far is in Redis. */
  flushed(): Promise<void>;
  stats(): WriterStats & { containers: number };
  /** Stops following; what was read is written first. */
  close(): Promise<void>;
}

export function tagsOf(id: string, labels: Record<string, string>): ContainerTags | null {
  const appId = labels[LABELS.appId];
  if (!appId) return null;
  const type = labels[LABELS.type] ?? 'run';
  const process = labels[LABELS.dyno] ?? (labels[LABELS.index] ? `${type}.${labels[LABELS.index]}` : type);
  return { id, appId, type, process, release: labels[LABELS.release] ?? '' };
}

export async function startShipper(o: ShipperOptions): Promise<Shipper> {
  const log = (o.log ?? silentLogger).child({ component: 'logs' });
  const keys = new LogKeys(o.keyPrefix ?? 'ctl:');
  const redis: Redis = connectRedis(o.redisUrl, { log, name: 'slipway-logs' });
  const writer = new LogWriter(redis, keys, log, o.writer);
  const router = new RouterLines(redis, keys, writer, log, o.routerMetricsMs);
  const followers = new Map<string, Follower>();
  const killedAt = new Map<string, number>();
  const ac = new AbortController();
  let closed = false;

  const cursors = await redis.hgetall(keys.cursors);
  const follow = (id: string, labels: Record<string, string>) => {
    const existing = followers.get(id);
    if (existing) return existing.kick();
    const tags = tagsOf(id, labels);
    // A build's output stays with its build record; the log gets only its start and end (onEvent).
    if (!tags || closed || tags.type === BUILD_TYPE) return;
    const f = new Follower(tags, parseCursor(cursors[id]), o.agent, writer, log);
    followers.set(id, f);
    void f.done.finally(() => {
      if (followers.get(id) === f) followers.delete(id);
    });
  };

  const onEvent = (e: AgentEvent) => {
    if (e.Type !== 'container') return;
    const id = e.Actor.ID;
    const attrs = e.Actor.Attributes;
    const tags = tagsOf(id, attrs);
    if (!tags) return;
    if (e.Action === 'kill') killedAt.set(id, Date.now());
    if (e.Action === 'start' || e.Action === 'restart') follow(id, attrs);
    const killed = Date.now() - (killedAt.get(id) ?? 0) < 120_000;
    const line = tags.type === BUILD_TYPE ? describeBuildEvent(e.Action, attrs, killed) : describeContainerEvent(e.Action, attrs, tags, killed);
    if (line) {
      const at = new Date(Math.floor(e.timeNano / 1e6)).toISOString();
      void writer.push(tags.appId, [{ fields: platformFields(line.message, line.event, tags, at) }]);
    }
    if (e.Action === 'destroy') {
      killedAt.delete(id);
      const f = followers.get(id);
      const done = f ? (f.removed(), f.done) : Promise.resolve();
      void done.then(() => writer.drained()).then(() => redis.hdel(keys.cursors, id)).catch(() => undefined);
    }
  };

  // Events first, then the list: a container that starts in between is seen by one of them.
  const events = (async () => {
    while (!ac.signal.aborted) {
      try {
        for await (const e of o.agent.events({ filters: { type: ['container'], label: [LABELS.appId] }, signal: ac.signal })) onEvent(e);
      } catch (err) {
        if (ac.signal.aborted) return;
        log.warn({ err }, 'agent events failed; again in a second');
      }
      if (!ac.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const resync = async () => {
    const list = await o.agent.listContainers({ all: true, labels: [LABELS.appId] });
    for (const c of list) if (c.State === 'running' || c.State === 'restarting' || !followers.has(c.Id)) follow(c.Id, c.Labels ?? {});
    // Cursors of containers that are gone (removed while no shipper ran).
    const ids = new Set(list.map((c) => c.Id));
    const stale = Object.keys(cursors).filter((id) => !ids.has(id));
    if (stale.length) await redis.hdel(keys.cursors, ...stale);
    for (const id of stale) delete cursors[id];
  };
  await resync();
  const resyncTimer = setInterval(() => void resync().catch((err) => log.warn({ err }, 'container resync failed')), o.resyncMs ?? 10_000);
  resyncTimer.unref();

  // Metrics: the agent's latest cgroup numbers, grouped per app, kept an hour.
  const host = o.host ?? 'local';
  const collect = async () => {
    const all = await o.agent.metrics();
    const now = Date.now();
    const byApp = new Map<string, ProcessSample[]>();
    for (const c of all) {
      const t = tagsOf(c.id, c.labels);
      if (!t || t.type === 'run' || t.type === BUILD_TYPE) continue;
      if (c.status === 'running' && !c.read) continue; // not sampled yet
      const s: ProcessSample = {
        t: now, id: c.id, type: t.type, process: t.process, release: t.release, host, status: c.status,
        cpuPercent: c.cpuPercent, memoryBytes: c.memoryUsage, memoryLimit: c.memoryLimit, restarts: c.restartCount, startedAt: c.startedAt,
      };
      byApp.set(t.appId, [...(byApp.get(t.appId) ?? []), s]);
    }
    if (!byApp.size) return;
    const m = redis.multi();
    for (const [appId, samples] of byApp) m.xadd(keys.procMetrics(appId), 'MINID', '~', String(now - 3600_000), '*', 'h', host, 'p', JSON.stringify(samples));
    await m.exec();
  };
  const metricsMs = o.metricsIntervalMs ?? 5000;
  const metricsTimer = metricsMs > 0 ? setInterval(() => void collect().catch((err) => log.debug({ err }, 'metrics not collected')), metricsMs) : null;
  metricsTimer?.unref();
  if (metricsMs > 0) void collect().catch(() => undefined);

  const bridge = o.bridge === false ? null : new EventBridge(redis, keys, log);
  const drains = o.drains === false ? null : new DrainSender(redis, keys, log);
  log.info({ containers: followers.size }, 'log shipper started');

  return {
    access: (r) => router.record(r),
    flushed: () => writer.drained(),
    stats: () => ({ ...writer.stats, containers: followers.size }),
    async close() {
      if (closed) return;
      closed = true;
      ac.abort();
      clearInterval(resyncTimer);
      if (metricsTimer) clearInterval(metricsTimer);
      for (const f of followers.values()) f.stop();
      await Promise.all([...followers.values()].map((f) => f.done));
      await events;
      await router.close();
      await bridge?.close();
      await drains?.close();
      await writer.close();
      // A Redis that is gone must not hold the host's shutdown.
      await Promise.race([redis.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
      redis.disconnect();
    },
  };
}
