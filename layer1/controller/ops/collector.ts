// The platform's disk collector, at start and every 10 minutes (the controller's half; each agent
// collects its own leftovers): slugs that no kept release refers to (the last 10 releases of each
// app, `slugBlobsToKeep`, and anything younger than the grace period), the slug images of releases
// no longer kept on every host (`POST /images/prune` on each agent: unused `slipway/slug:*` images
// except the kept ones; never the stack), and the build caches of apps that were deleted. Logs what
// it freed. Started by the composition root (`slipway up`).
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { connectAgent, type AgentClient } from '../../../layer0/agent/index.ts';
import { dirBytes } from '../../../layer0/common/disk.ts';
import type { Logger } from '../../../layer0/common/logger.ts';
import { HOSTS_SERVICE, type Discovery } from '../../../layer0/discovery/index.ts';
import type { BlobStore } from '../../blobstore/index.ts';
import { purgeBuildCache, slugBlobsToKeep, SLUG_REPO } from '../../builder/index.ts';
import type { Store } from '../store/index.ts';

export const COLLECT_EVERY_MS = 10 * 60_000;

export interface CollectorOptions {
  store: Store;
  /** The controller's Redis (releases under `ctl:`, or `keyPrefix`). */
  redis: Redis;
  keyPrefix?: string;
  /** `$SLIPWAY_HOME`: build caches in `cache/builds/<appId>`. */
  home: string;
  /** The blobstore on this host (slugs); without it slugs are not collected here. */
  blobs?: BlobStore;
  /** Blobs younger than this are kept (default the blobstore's hour). */
  graceMs?: number;
  /** To reach every host's agent for its slug images. */
  discovery?: Discovery;
  agentToken?: string;
  log: Logger;
  everyMs?: number;
  firstDelayMs?: number;
}

export interface CollectResult {
  slugs: { deleted: number; freedBytes: number };
  images: { deleted: number; freedBytes: number; hosts: number };
  buildCaches: { deleted: string[]; freedBytes: number };
}

export interface DiskCollector {
  collect(): Promise<CollectResult>;
  close(): void;
}

/** Slug images (`slipway/slug:<blob12>`) of the kept slugs: never pruned. */
export function keptSlugImages(keep: Set<string>): string[] {
  return [...keep].map((id) => `${SLUG_REPO}:${id.slice(0, 12)}`);
}

function agentOf(addr: string, token?: string): AgentClient {
  if (addr.startsWith('unix://')) return connectAgent({ socketPath: addr.slice('unix://'.length) });
  const u = new URL(addr);
  return connectAgent({ host: u.hostname, port: Number(u.port || 2375), token });
}

export function startDiskCollector(o: CollectorOptions): DiskCollector {
  const log = o.log;
  async function collect(): Promise<CollectResult> {
    const r: CollectResult = { slugs: { deleted: 0, freedBytes: 0 }, images: { deleted: 0, freedBytes: 0, hosts: 0 }, buildCaches: { deleted: [], freedBytes: 0 } };
    const keep = await slugBlobsToKeep(o.redis, o.keyPrefix ? { prefix: o.keyPrefix } : {});
    if (o.blobs) {
      const gc = await o.blobs.gc({ keep, graceMs: o.graceMs });
      r.slugs = { deleted: gc.deleted.length, freedBytes: gc.freedBytes };
    }
    if (o.discovery) {
      const filters = { dangling: ['false'], reference: [`${SLUG_REPO}:*`], keep: keptSlugImages(keep) };
      for (const host of await o.discovery.instances(HOSTS_SERVICE)) {
        try {
          const res = await agentOf(host.addr, o.agentToken).pruneImages(filters);
          r.images.deleted += res.deleted.length;
          r.images.freedBytes += res.spaceReclaimed;
          r.images.hosts++;
        } catch (err) {
          log.warn({ err, host: host.id }, 'image collection on a host failed');
        }
      }
    }
    const root = join(o.home, 'cache', 'builds');
    for (const appId of await readdir(root).catch(() => [] as string[])) {
      if (await o.store.apps.get(appId).catch(() => 'unknown')) continue;
      const bytes = await dirBytes(join(root, appId));
      try {
        await purgeBuildCache(o.home, appId);
        r.buildCaches.deleted.push(appId);
        r.buildCaches.freedBytes += bytes;
      } catch (err) {
        log.warn({ err, appId }, 'removing a build cache failed');
      }
    }
    const freed = r.slugs.freedBytes + r.images.freedBytes + r.buildCaches.freedBytes;
    log.info({ ...r, freedBytes: freed, keptSlugs: keep.size }, freed ? 'disk collected' : 'disk collected: nothing to free');
    return r;
  }
  let running: Promise<CollectResult> | null = null;
  const once = () => (running ??= collect().finally(() => (running = null)));
  const pass = () => void once().catch((err: unknown) => log.warn({ err }, 'disk collection failed'));
  const first = setTimeout(pass, o.firstDelayMs ?? 10_000);
  const timer = setInterval(pass, o.everyMs ?? COLLECT_EVERY_MS);
  first.unref();
  timer.unref();
  return {
    collect: once,
    close() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
