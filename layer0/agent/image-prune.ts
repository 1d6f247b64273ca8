// Image garbage collection: Docker's `POST /images/prune` (images no container uses; `dangling`,
// `until`, `label`, `label!` filters) plus two Slipway filters, `reference` (only these globs) and
// `keep` (references never removed). The stack and images labelled `slipway.keep` are never
// removed. Used by the images route and the agent's own collector (collector.ts).
import { SlipwayError } from '../common/errors.ts';
import { timeOrDurationMs } from '../common/time.ts';
import { BUILD_STACK_IMAGE, STACK_IMAGE, STACK_LATEST } from '../runtime/images/stack.ts';
import { tryNormalizeRef } from '../runtime/images/refs.ts';
import type { ImageStore } from '../runtime/images/store.ts';
import type { ContainerRuntime, ImageRecord, RemovedImageItem } from '../runtime/types.ts';
import { checkFilterNames, matchLabels, referenceMatches, type Filters } from './query.ts';

export const PRUNE_FILTERS = ['dangling', 'until', 'label', 'label!', 'reference', 'keep'];
/** The label that keeps an image from every prune. */
export const KEEP_LABEL = 'slipway.keep';
const ALWAYS_KEPT = new Set([STACK_IMAGE, STACK_LATEST, BUILD_STACK_IMAGE]);

export interface PruneResult {
  ImagesDeleted: RemovedImageItem[];
  SpaceReclaimed: number;
}

/** `until`: a Unix timestamp, an RFC 3339 date, or a Go duration before now (`10m`, `24h`). */
export function untilMs(v: string, now = Date.now()): number {
  const t = timeOrDurationMs(v, { units: ['ms', 's', 'm', 'h'], now });
  if (t === null) throw new SlipwayError('invalid_params', `invalid until filter: ${JSON.stringify(v)}`);
  return t;
}

function prunable(img: ImageRecord, f: Filters, keep: Set<string>, now: number): boolean {
  if (img.tags.some((t) => ALWAYS_KEPT.has(t) || keep.has(t)) || keep.has(img.id)) return false;
  if (Object.hasOwn(img.config.Labels ?? {}, KEEP_LABEL)) return false;
  const danglingOnly = !(f.get('dangling') ?? ['true']).some((v) => v === 'false' || v === '0');
  if (danglingOnly && img.tags.length > 0) return false;
  if (f.has('until') && !f.get('until')!.every((u) => Date.parse(img.created) < untilMs(u, now))) return false;
  if (f.has('reference') && !referenceMatches(img, f.get('reference')!)) return false;
  if (!matchLabels(f.get('label'), img.config.Labels ?? {})) return false;
  if (f.has('label!') && f.get('label!')!.some((l) => matchLabels([l], img.config.Labels ?? {}))) return false;
  return true;
}

/** Removes every unused image the filters select (children before their parents); returns what went. */
export function pruneImages(images: ImageStore, runtime: ContainerRuntime, f: Filters, now = Date.now()): PruneResult {
  checkFilterNames(f, PRUNE_FILTERS);
  const keep = new Set((f.get('keep') ?? []).map((r) => tryNormalizeRef(r) ?? r));
  const result: PruneResult = { ImagesDeleted: [], SpaceReclaimed: 0 };
  for (let progress = true; progress; ) {
    progress = false;
    const all = images.list();
    const used = new Set(runtime.list().map((c) => c.imageId));
    const parents = new Set(all.map((i) => i.parent).filter((p): p is string => p !== null));
    for (const img of all) {
      if (used.has(img.id) || parents.has(img.id) || !prunable(img, f, keep, now)) continue;
      // Synchronous from the scan to here: no container or child image can have appeared meanwhile.
      result.ImagesDeleted.push(...images.remove(img.id, { force: true }));
      result.SpaceReclaimed += img.size;
      progress = true;
    }
  }
  return result;
}
