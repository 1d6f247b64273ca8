// Builds the placement snapshot from observed state: every known host with its advertised
// capacity and availability, charged with the limits of the jobs on it. Called by plan().
import { addJob, hostSlot, snapshotOf } from './placement/snapshot.ts';
import { groupKey, type Snapshot } from './placement/types.ts';
import { jobResources } from './labels.ts';
import type { Formation, HostInfo, Job, JobState } from './types.ts';

/** Alive: counts toward a formation's jobs. */
export const ALIVE: ReadonlySet<JobState> = new Set(['starting', 'running', 'restarting']);
/** Holds its host's resources: alive, or still stopping. */
const HOLDS: ReadonlySet<JobState> = new Set([...ALIVE, 'stopping']);

export interface SnapshotInput {
  hosts: HostInfo[];
  jobs: Job[];
  lost: ReadonlySet<string>;
  draining: ReadonlySet<string>;
  desired: ReadonlyMap<string, Formation>;
  /** Memory held per host outside any formation (one-offs). */
  reservedMemory?: ReadonlyMap<string, number>;
}

export function buildSnapshot(o: SnapshotInput): Snapshot {
  const byId = new Map(
    o.hosts.map((h) => [h.id, hostSlot(h.id, h.capacity, o.lost.has(h.id) ? 'lost' : o.draining.has(h.id) ? 'draining' : 'ready')]),
  );
  for (const job of o.jobs) {
    const host = job.hostId === null ? undefined : byId.get(job.hostId);
    if (!host || !HOLDS.has(job.state)) continue;
    const spec = o.desired.get(job.formationId)?.jobs[job.jobName];
    addJob(host, groupKey(job.formationId, job.jobName), jobResources(job, spec), ALIVE.has(job.state));
  }
  for (const [hostId, memory] of o.reservedMemory ?? []) {
    const host = byId.get(hostId);
    if (host) host.used.memory += memory;
  }
  return snapshotOf([...byId.values()]);
}
