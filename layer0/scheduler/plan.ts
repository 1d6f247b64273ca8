// The scheduler's level-triggered reconcile step (STYLE.md §7): desired formations against
// observed hosts and jobs → the actions that close the gap. Pure; the reconciler applies them.
import { jobResources, LABEL_INDEX, LABEL_SPEC_HASH, specHash, withSchedulerLabels } from './labels.ts';
import { addJob, groupKey, placeInto, releaseJob, type PlacementRequest } from './placement/index.ts';
import { ALIVE, buildSnapshot } from './snapshot.ts';
import type { Formation, HostInfo, Job, JobSpec } from './types.ts';

export type StopReason = 'surplus' | 'formation_deleted' | 'spec_changed' | 'host_lost' | 'exited';

/** Start one job; `spec` is the desired spec with the scheduler's labels (labels.ts) added. */
/** `index` numbers the job within its group: the lowest not taken by a job of the current spec. */
export interface StartAction { type: 'start'; formationId: string; jobName: string; hostId: string; spec: JobSpec; index: number }
/** Deregister, drain, stop and remove a job; `host_lost` means forget its record (its host is gone). */
export interface StopAction { type: 'stop'; jobId: string; hostId: string; formationId: string; jobName: string; reason: StopReason }
/** Set the group's pending records to `count` with `reason` (0 clears them). Only emitted on change. */
export interface PendingAction { type: 'pending'; formationId: string; jobName: string; count: number; reason: string }
export type Action = StartAction | StopAction | PendingAction;

export interface Observed {
  hosts: HostInfo[];
  /** Every job record: on hosts, and the pending ones (`hostId` null or state `pending`). */
  jobs: Job[];
  /** Hosts still listed but lost; a job on a host absent from `hosts` is on a lost host too. */
  lostHostIds?: Iterable<string>;
  /** Hosts that take no new jobs; the jobs already there still count. */
  drainingHostIds?: Iterable<string>;
  /** Memory held per host by containers outside any formation (one-offs): not free for jobs. */
  reservedMemory?: ReadonlyMap<string, number>;
}

interface Group { current: Job[]; outdated: Job[]; stopping: number }
interface PendingSeen { formationId: string; jobName: string; count: number; reason: string }

export function plan(desired: Formation[], observed: Observed): Action[] {
  const formations = new Map(desired.map((f) => [f.id, f]));
  const known = new Set(observed.hosts.map((h) => h.id));
  const lost = new Set(observed.lostHostIds ?? []);
  const draining = new Set(observed.drainingHostIds ?? []);
  // Sorted so the actions do not depend on the order the store listed the jobs in.
  const jobs = [...observed.jobs].sort((a, b) => cmp(a.id, b.id));
  const snapshot = buildSnapshot({ hosts: observed.hosts, jobs, lost, draining, desired: formations, reservedMemory: observed.reservedMemory });
  const hostsById = new Map(snapshot.hosts.map((h) => [h.id, h]));
  const hashes = new Map<string, string>();
  for (const f of desired) for (const [name, spec] of Object.entries(f.jobs)) hashes.set(groupKey(f.id, name), specHash(spec));

  const starts: StartAction[] = [];
  const stops: StopAction[] = [];
  const pendings: PendingAction[] = [];
  const stop = (job: Job, reason: StopReason) =>
    stops.push({ type: 'stop', jobId: job.id, hostId: job.hostId!, formationId: job.formationId, jobName: job.jobName, reason });
  const groups = new Map<string, Group>();
  const groupOf = (key: string) => groups.get(key) ?? groups.set(key, { current: [], outdated: [], stopping: 0 }).get(key)!;
  const pendingSeen = new Map<string, PendingSeen>();

  for (const job of jobs) {
    const key = groupKey(job.formationId, job.jobName);
    if (job.hostId === null || job.state === 'pending') {
      const seen = pendingSeen.get(key);
      if (!seen) pendingSeen.set(key, { formationId: job.formationId, jobName: job.jobName, count: 1, reason: job.reason });
      else {
        seen.count++;
        if (seen.reason !== job.reason) seen.reason = '\0mixed'; // never equal: forces a rewrite
      }
      continue;
    }
    // A lost host's jobs are gone: replaced below; if the host returns they come back as surplus.
    if (lost.has(job.hostId) || !known.has(job.hostId)) stop(job, 'host_lost');
    else if (job.state === 'stopping') groupOf(key).stopping++;
    else if (!formations.has(job.formationId)) stop(job, 'formation_deleted');
    else if (!hashes.has(key)) stop(job, 'surplus'); // its job name left the formation
    else if (!ALIVE.has(job.state)) stop(job, 'exited'); // the agent gave up on it
    else {
      const g = groupOf(key);
      (job.labels[LABEL_SPEC_HASH] === hashes.get(key) ? g.current : g.outdated).push(job);
    }
  }

  for (const f of [...desired].sort((a, b) => cmp(a.id, b.id))) {
    for (const name of Object.keys(f.jobs).sort(cmp)) {
      const spec = f.jobs[name]!;
      const key = groupKey(f.id, name);
      const g = groups.get(key) ?? { current: [], outdated: [], stopping: 0 };
      const want = spec.count;
      const req: PlacementRequest = { formationId: f.id, jobName: name, memory: spec.memory, cpus: spec.cpus };

      if (g.current.length > want) for (const j of pickSurplus(g.current, g.current.length - want)) stop(j, 'surplus');
      const placements = placeInto(snapshot, new Array<PlacementRequest>(Math.max(0, want - g.current.length)).fill(req));
      const startSpec = withSchedulerLabels(f.id, name, spec);
      const indexes = freeIndexes(g.current, placements.length);
      placements.forEach((p, i) => {
        if (p.hostId) starts.push({ type: 'start', formationId: f.id, jobName: name, hostId: p.hostId, spec: startSpec, index: indexes[i]! });
      });
      const unplaced = placements.filter((p) => !p.hostId);

      // Surge: an outdated job stays until a current one is running in its stead.
      const running = Math.min(want, g.current.filter((j) => j.state === 'running').length);
      let kept = g.outdated;
      if (kept.length > want - running) {
        const gone = new Set(pickSurplus(kept, kept.length - Math.max(0, want - running)));
        for (const j of gone) stop(j, 'spec_changed');
        kept = kept.filter((j) => !gone.has(j));
      }
      // No room to surge: roll instead, one job at a time. Stop an outdated job when its room
      // lets a replacement fit (placed on the next pass), nothing of the group is still stopping,
      // and every other job is serving, so at most one is ever missing.
      if (unplaced.length > 0 && kept.length > 0 && g.stopping === 0 && running + kept.length >= want) {
        const old = pickSurplus(kept, 1)[0]!;
        const host = hostsById.get(old.hostId!)!;
        const res = jobResources(old, spec);
        releaseJob(host, key, res);
        if (placeInto(snapshot, [req])[0]!.hostId) stop(old, 'spec_changed');
        else addJob(host, key, res);
      }

      const reason = unplaced[0]?.reason ?? '';
      const seen = pendingSeen.get(key);
      pendingSeen.delete(key);
      if ((seen?.count ?? 0) !== unplaced.length || (unplaced.length > 0 && seen?.reason !== reason)) {
        pendings.push({ type: 'pending', formationId: f.id, jobName: name, count: unplaced.length, reason });
      }
    }
  }
  // Pending records of groups no longer desired.
  for (const s of [...pendingSeen.values()].sort((a, b) => cmp(groupKey(a.formationId, a.jobName), groupKey(b.formationId, b.jobName)))) {
    pendings.push({ type: 'pending', formationId: s.formationId, jobName: s.jobName, count: 0, reason: '' });
  }
  return [...starts, ...stops, ...pendings];
}

/** The `n` jobs to stop: each from the host with the most of them left (lowest id on a tie), newest first. */
export function pickSurplus(jobs: readonly Job[], n: number): Job[] {
  const perHost = new Map<string, Job[]>();
  for (const j of jobs) {
    const list = perHost.get(j.hostId ?? '');
    if (list) list.push(j);
    else perHost.set(j.hostId ?? '', [j]);
  }
  for (const list of perHost.values()) list.sort((a, b) => cmp(b.createdAt, a.createdAt) || cmp(b.id, a.id));
  const hosts = [...perHost.keys()].sort(cmp);
  const out: Job[] = [];
  while (out.length < n) {
    let best: Job[] | undefined;
    for (const h of hosts) {
      const list = perHost.get(h)!;
      if (!best || list.length > best.length) best = list;
    }
    if (!best || best.length === 0) break;
    out.push(best.shift()!);
  }
  return out;
}

/** The `n` lowest job numbers (from 1) that no job of `jobs` carries; outdated jobs do not count, so a new release's processes take the numbers of those they replace. */
export function freeIndexes(jobs: readonly Job[], n: number): number[] {
  const used = new Set(jobs.map((j) => Number(j.labels[LABEL_INDEX])).filter((x) => Number.isInteger(x) && x > 0));
  const out: number[] = [];
  for (let i = 1; out.length < n; i++) if (!used.has(i)) out.push(i);
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
