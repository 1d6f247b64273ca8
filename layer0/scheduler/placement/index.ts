// Placement: assigns many jobs at once over a snapshot, running the filters then the weighted
// scores per host (STYLE.md §8). Called by ../plan.ts and measured by test/bench/scheduler-placement.ts.
import { fitsCpu } from './fits-cpu.ts';
import { fitsMemory } from './fits-memory.ts';
import { hostReady } from './host-ready.ts';
import { leastAllocated } from './least-allocated.ts';
import { addJob, cloneSnapshot } from './snapshot.ts';
import { spread } from './spread.ts';
import { groupKey, type FilterPlugin, type Placement, type PlacementRequest, type ResolvedRequest, type ScorePlugin, type Snapshot } from './types.ts';

export * from './types.ts';
export { addJob, cloneSnapshot, hostSlot, releaseJob, snapshotOf } from './snapshot.ts';

export const NO_HOSTS = 'no_hosts';

/** Cheapest and most general first: a host is charged to the first filter that rejects it. */
export const DEFAULT_FILTERS: readonly FilterPlugin[] = [hostReady, fitsMemory, fitsCpu];
/** Spread first (weight 2), then least-allocated (weight 1). */
export const DEFAULT_SCORES: readonly ScorePlugin[] = [spread, leastAllocated];

export interface PlaceOptions {
  filters?: readonly FilterPlugin[];
  scores?: readonly ScorePlugin[];
}

/** Places `requests` in order without touching `snapshot` (it works on a copy). */
export function place(snapshot: Snapshot, requests: readonly PlacementRequest[], opts?: PlaceOptions): Placement[] {
  return placeInto(cloneSnapshot(snapshot), requests, opts);
}

/**
 * Places `requests` in order, charging each placed job to its host in `snapshot` as it goes,
 * so later requests see earlier ones (6 jobs on 3 equal hosts land 2/2/2). Deterministic:
 * hosts are scanned in id order and only a strictly higher score displaces the best so far.
 * O(requests × hosts × plugins).
 */
export function placeInto(snapshot: Snapshot, requests: readonly PlacementRequest[], opts: PlaceOptions = {}): Placement[] {
  const filters = opts.filters ?? DEFAULT_FILTERS;
  const scores = opts.scores ?? DEFAULT_SCORES;
  const hosts = snapshot.hosts;
  const rejected = new Array<number>(filters.length);
  const out: Placement[] = [];
  for (const request of requests) {
    if (hosts.length === 0) {
      out.push({ request, hostId: null, reason: NO_HOSTS, rejected: {} });
      continue;
    }
    const req: ResolvedRequest = { ...request, group: groupKey(request.formationId, request.jobName) };
    rejected.fill(0);
    let best = -1;
    let bestScore = -Infinity;
    for (let h = 0; h < hosts.length; h++) {
      const host = hosts[h]!;
      let ok = true;
      for (let f = 0; f < filters.length; f++) {
        if (!filters[f]!.filter(host, req)) {
          rejected[f]!++;
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      let s = 0;
      for (let k = 0; k < scores.length; k++) s += scores[k]!.weight * scores[k]!.score(host, req);
      if (s > bestScore) {
        bestScore = s;
        best = h;
      }
    }
    if (best >= 0) {
      addJob(hosts[best]!, req.group, request);
      out.push({ request, hostId: hosts[best]!.id, reason: '', rejected: {} });
    } else {
      out.push({ request, hostId: null, ...verdict(filters, rejected) });
    }
  }
  return out;
}

/**
 * The most telling reason: the one that rejected the most hosts; on a tie the later filter,
 * which is the more specific one (a host that is up but too small says more than one that is down).
 */
function verdict(filters: readonly FilterPlugin[], rejected: number[]): { reason: string; rejected: Record<string, number> } {
  const counts: Record<string, number> = {};
  let reason = NO_HOSTS;
  let most = 0;
  for (let f = 0; f < filters.length; f++) {
    const n = rejected[f]!;
    if (n === 0) continue;
    const code = filters[f]!.reason;
    counts[code] = (counts[code] ?? 0) + n;
    if (counts[code]! >= most) {
      most = counts[code]!;
      reason = code;
    }
  }
  return { reason, rejected: counts };
}
