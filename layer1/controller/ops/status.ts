// What `GET /v1/status` and `slipway status` show: disk use under SLIPWAY_HOME and the free space
// of its filesystem, the hosts (discovery) with their jobs, each app's processes by state, the
// build queue, and the health of the components. Disk sizes are measured with du at most once a
// minute (the stack alone is thousands of files). Called by routes/status.ts.
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { dirBytes, fsSpace } from '../../../layer0/common/disk.ts';
import { formatBytes } from '../../../layer0/common/settings.ts';
import { HOSTS_SERVICE, SCHEDULER_ELECTION, type Discovery } from '../../../layer0/discovery/index.ts';
import type { Job, SchedulerClient } from '../../../layer0/scheduler/index.ts';
import type { BlobStore } from '../../blobstore/index.ts';
import { BuildStore, QUEUE_NAME, type BuildRecord } from '../../builder/index.ts';

export interface StatusDeps {
  redis: Redis;
  /** Key prefix of the controller's records (builds live under it). */
  keyPrefix?: string;
  home: string;
  blobs?: BlobStore;
  discovery?: Discovery;
  scheduler?: SchedulerClient;
  /** Why the router is not serving, or null (the controller's readiness hook). */
  routerNotReady?: () => string | null;
  /** Cache of the disk measurements (default 60 s). */
  diskCacheMs?: number;
  /** The share of Redis's maxmemory above which status raises an alarm (default 0.8). */
  redisAlarmRatio?: number;
}

export interface DiskStatus {
  path: string;
  /** Bytes on disk per kind: images (stack and slugs), slugs (blobstore), build caches, logs, git repos, containers (upper dirs), redis. */
  usage: Record<'images' | 'slugs' | 'buildCaches' | 'logs' | 'git' | 'containers' | 'redis', number>;
  filesystem: { totalBytes: number; freeBytes: number };
  measuredAt: string;
}

/** `cgroups`: the host's cgroup version and enabled controllers, `v2 (cpu io memory pids)` (empty from older agents). */
export interface HostStatus { id: string; name: string; address: string; agent: string; memory: number; cpus: number; jobs: number; running: number; cgroups: string }
export interface AppProcesses { app: string; running: number; pending: number; crashed: number; other: number }
export interface BuildEntry { id: string; app: string; state: string; commit: string; createdAt: string; startedAt: string | null }
export interface ComponentHealth { name: string; ok: boolean; detail: string }

export interface RedisMemory {
  usedBytes: number;
  /** 0: no maxmemory (Redis may take the whole machine). */
  maxBytes: number;
}

export interface PlatformStatus {
  /** Conditions an operator must act on (Redis near its maxmemory, …), in words. */
  alarms: string[];
  /** Redis's memory use (admins only). */
  redis: RedisMemory | null;
  disk: DiskStatus | null;
  hosts: HostStatus[] | null;
  processes: AppProcesses[];
  builds: { running: BuildEntry[]; waiting: BuildEntry[] };
  components: ComponentHealth[];
}

/** running / pending / crashed (restarting, or exited non-zero) / other (starting, stopping, exited 0). */
export function processCounts(jobs: Job[]): AppProcesses[] {
  const by = new Map<string, AppProcesses>();
  for (const j of jobs) {
    const app = j.labels['slipway.app'];
    if (!app) continue;
    const c = by.get(app) ?? { app, running: 0, pending: 0, crashed: 0, other: 0 };
    if (j.state === 'running') c.running++;
    else if (j.state === 'pending') c.pending++;
    else if (j.state === 'restarting' || (j.state === 'exited' && j.exitCode !== 0)) c.crashed++;
    else c.other++;
    by.set(app, c);
  }
  return [...by.values()].sort((a, b) => a.app.localeCompare(b.app));
}

export function createStatus(d: StatusDeps) {
  let diskCache: { at: number; value: Promise<DiskStatus> } | null = null;
  /** For the builder's worker count: made at the first status, over the caller's connection. */
  let queue: Queue | null = null;
  const builds = new BuildStore(d.redis, d.keyPrefix);

  async function measureDisk(): Promise<DiskStatus> {
    const at = (p: string) => dirBytes(join(d.home, p));
    const [images, blobDir, buildCaches, logs, git, containers, redis, filesystem] = await Promise.all([
      at('images'), at('blobs'), at('cache/builds'), at('logs'), at('git'), at('containers'), at('redis'), fsSpace(d.home),
    ]);
    const slugs = d.blobs ? (await d.blobs.usage()).bytes : blobDir;
    return { path: d.home, usage: { images, slugs, buildCaches, logs, git, containers, redis }, filesystem, measuredAt: new Date().toISOString() };
  }

  function disk(): Promise<DiskStatus> {
    const now = Date.now();
    if (!diskCache || now - diskCache.at > (d.diskCacheMs ?? 60_000)) {
      const value = measureDisk();
      diskCache = { at: now, value };
      value.catch(() => (diskCache = null));
    }
    return diskCache.value;
  }

  async function buildQueue(visible: (appId: string) => boolean): Promise<PlatformStatus['builds']> {
    const out: PlatformStatus['builds'] = { running: [], waiting: [] };
    for (const appId of await builds.queuedApps()) {
      if (!visible(appId)) continue;
      for (const id of await d.redis.lrange(builds.queue(appId), 0, 99)) {
        const rec: BuildRecord | null = await builds.get(appId, id);
        if (!rec) continue;
        const e = { id: rec.id, app: rec.app, state: rec.state, commit: rec.commit, createdAt: rec.createdAt, startedAt: rec.startedAt };
        if (rec.state === 'building') out.running.push(e);
        else if (rec.state === 'pending') out.waiting.push(e);
      }
    }
    return out;
  }

  async function redisMemory(): Promise<RedisMemory | null> {
    const info = await d.redis.info('memory').catch(() => null);
    if (info === null) return null;
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
  }

  /** The alarm when Redis is near its maxmemory (noeviction: at it, every write fails, deploys too). */
  function memoryAlarm(m: RedisMemory | null): string | null {
    if (!m) return null;
    if (!m.maxBytes) return null;
    const ratio = m.usedBytes / m.maxBytes;
    if (ratio <= (d.redisAlarmRatio ?? 0.8)) return null;
    return `redis memory at ${Math.round(ratio * 100)}% of maxmemory (${formatBytes(m.usedBytes)} of ${formatBytes(m.maxBytes)}): at 100% every write fails, deploys included; ` +
      'raise SLIPWAY_REDIS_MAXMEMORY, or lower the log budgets (SLIPWAY_LOG_BYTES, apps\' maxBytes)';
  }

  async function components(hosts: number | null, mem: RedisMemory | null): Promise<ComponentHealth[]> {
    const out: ComponentHealth[] = [{ name: 'controller', ok: true, detail: 'serving' }];
    const pong = await d.redis.ping().catch((err: Error) => err.message);
    const alarm = memoryAlarm(mem);
    const use = mem ? `, ${formatBytes(mem.usedBytes)}${mem.maxBytes ? ` of ${formatBytes(mem.maxBytes)} (${Math.round((mem.usedBytes / mem.maxBytes) * 100)}%)` : ', no maxmemory'}` : '';
    out.push({ name: 'redis', ok: pong === 'PONG' && !alarm, detail: pong === 'PONG' ? `${alarm ? 'near maxmemory' : 'answering'}${use}` : pong });
    if (d.discovery) {
      const leader = await d.discovery.leader(SCHEDULER_ELECTION).catch(() => null);
      out.push({ name: 'scheduler', ok: leader !== null, detail: leader ? `leader ${leader.id.slice(0, 12)} (term ${leader.token})` : 'no leader' });
      out.push({ name: 'agents', ok: (hosts ?? 0) > 0, detail: `${hosts ?? 0} host${hosts === 1 ? '' : 's'} heartbeating` });
    }
    const workers = await (queue ??= new Queue(QUEUE_NAME, { connection: d.redis })).getWorkersCount().catch(() => -1);
    if (workers >= 0) out.push({ name: 'builder', ok: workers > 0, detail: workers > 0 ? `${workers} worker${workers > 1 ? 's' : ''}` : 'no build worker' });
    if (d.routerNotReady) {
      const why = d.routerNotReady();
      out.push({ name: 'router', ok: why === null, detail: why ?? 'serving' });
    }
    return out;
  }

  /** The whole status; `full` (admins) adds disk and hosts; `visibleApp` filters processes and builds. */
  async function status(o: { full: boolean; visibleApp: (appId: string) => boolean }): Promise<PlatformStatus> {
    const jobs = d.scheduler ? await d.scheduler.listJobs() : [];
    const hostInstances = d.discovery ? await d.discovery.instances(HOSTS_SERVICE) : [];
    const hosts: HostStatus[] = hostInstances.map((h) => {
      const mine = jobs.filter((j) => j.hostId === h.id);
      return {
        id: h.id, name: h.meta.name ?? '', address: h.meta.address ?? '', agent: h.addr,
        memory: Number(h.meta.memory ?? 0), cpus: Number(h.meta.cpus ?? 0), jobs: mine.length, running: mine.filter((j) => j.state === 'running').length,
        cgroups: h.meta.cgroups ?? '',
      };
    });
    const mem = await redisMemory();
    const alarm = memoryAlarm(mem);
    const visibleJobs = jobs.filter((j) => j.labels['slipway.app'] && o.visibleApp(j.labels['slipway.app-id'] ?? ''));
    return {
      // Everyone sees the alarm (their deploys fail too); the numbers are for admins.
      alarms: alarm ? [alarm] : [],
      redis: o.full ? mem : null,
      disk: o.full ? await disk() : null,
      hosts: o.full ? hosts : null,
      processes: processCounts(visibleJobs),
      builds: await buildQueue(o.visibleApp),
      components: await components(d.discovery ? hosts.length : null, o.full ? mem : null),
    };
  }

  return {
    status,
    /** Closes the build queue handle (the Redis connection is the caller's). */
    async close(): Promise<void> {
      await queue?.close().catch(() => undefined);
      queue = null;
    },
  };
}
