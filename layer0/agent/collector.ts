// The agent's own disk collector, at start and every 10 minutes: untagged images no container
// uses (older than an hour), and container directories no container owns. Tagged images (slugs
// of old releases) are removed when the platform asks (`POST /images/prune`), since only it knows
// which are still wanted. Logs what it freed. Started by startAgent.
import type { Logger } from '../common/logger.ts';
import type { ImageStore } from '../runtime/images/store.ts';
import type { ContainerRuntime } from '../runtime/types.ts';
import { pruneImages } from './image-prune.ts';

export const COLLECT_EVERY_MS = 10 * 60_000;

export interface Collector {
  /** One pass now (also what the timer runs). */
  collect(): Promise<{ images: number; containers: number; freedBytes: number }>;
  close(): void;
}

export function startCollector(o: { images: ImageStore; runtime: ContainerRuntime; log: Logger; everyMs?: number; firstDelayMs?: number }): Collector {
  let running: Promise<{ images: number; containers: number; freedBytes: number }> | null = null;
  const collect = () => {
    running ??= (async () => {
      const imgs = pruneImages(o.images, o.runtime, new Map([['dangling', ['true']], ['until', ['1h']]]));
      const dirs = await o.runtime.pruneLeftovers();
      const r = { images: imgs.ImagesDeleted.filter((i) => i.Deleted).length, containers: dirs.removed.length, freedBytes: imgs.SpaceReclaimed + dirs.freedBytes };
      if (r.images || r.containers) o.log.info({ ...r, containerDirs: dirs.removed }, 'disk collected');
      return r;
    })().finally(() => (running = null));
    return running;
  };
  const pass = () => void collect().catch((err: unknown) => o.log.warn({ err }, 'disk collection failed'));
  const first = setTimeout(pass, o.firstDelayMs ?? 5000);
  const timer = setInterval(pass, o.everyMs ?? COLLECT_EVERY_MS);
  first.unref();
  timer.unref();
  return {
    collect,
    close() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
