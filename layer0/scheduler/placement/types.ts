// Placement's words: a snapshot of hosts (capacity, the limits already placed, jobs per
// formation/job, availability), a request to place one job, and the plugin shapes (STYLE.md §8).

export type HostAvailability = 'ready' | 'lost' | 'draining';

export interface HostSlot {
  id: string;
  capacity: { memory: number; cpus: number };
  /** Sum of the limits of the jobs placed on the host (alive or still stopping). */
  used: { memory: number; cpus: number };
  /** Alive jobs per group (`groupKey(formationId, jobName)`), for spread. */
  groups: Map<string, number>;
  /** Alive jobs on the host, all groups. */
  jobs: number;
  availability: HostAvailability;
}

/** Hosts sorted by id, so a scan order is also the tie-break. */
export interface Snapshot {
  hosts: HostSlot[];
}

export interface PlacementRequest {
  formationId: string;
  jobName: string;
  /** Bytes (the job's memory limit). */
  memory: number;
  cpus: number;
}

/** A request as the plugins see it: its group key computed once. */
export interface ResolvedRequest extends PlacementRequest {
  group: string;
}

export interface FilterPlugin {
  name: string;
  /** The constant reason code reported when this filter leaves a job unplaced. */
  reason: string;
  filter(host: HostSlot, req: ResolvedRequest): boolean;
}

export interface ScorePlugin {
  name: string;
  weight: number;
  /** 0–100, higher is better. */
  score(host: HostSlot, req: ResolvedRequest): number;
}

export interface Placement {
  request: PlacementRequest;
  /** The chosen host, or null when nothing fits. */
  hostId: string | null;
  /** '' when placed; otherwise the most telling filter's reason code, or `no_hosts`. */
  reason: string;
  /** Hosts rejected per reason code (empty when placed). */
  rejected: Record<string, number>;
}

export function groupKey(formationId: string, jobName: string): string {
  return `${formationId}/${jobName}`;
}
