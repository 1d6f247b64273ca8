// The rollout's level-triggered step (pure, STYLE.md §7): the groups being replaced, the observed
// jobs and the clock → the layer-0 jobs to put now, progress, done or why it failed.
//
// A type whose processes change gets a new job group `<type>-<deployment>` beside the old one:
// `rolling` grows the new group one process at a time, each one healthy (running, registered when
// it serves) before the old group shrinks by one; `all-at-once` starts all new processes and drops
// the old group once all are healthy. The old group is only drained and stopped (by the scheduler,
// which deregisters first) after its replacements serve, so no request meets an empty backend set.
import type { Job, JobSpec } from '../../../layer0/scheduler/types.ts';
import { sameProcesses } from './formation.ts';
import type { DeployedGroup, Strategy } from './types.ts';

export interface RolloutGroup {
  type: string;
  /** The group running now; absent for a new process type. */
  from?: DeployedGroup;
  /** The group to end with; absent for a type that left the Procfile (scaled to 0, removed). */
  to?: DeployedGroup;
  /** `to` is a new group of new processes, not `from` resized. */
  fresh: boolean;
}

/** Job name of a type's group made by deployment `seq`; unique because the suffix is all digits. */
export function groupName(type: string, seq: string): string {
  return `${type}-${seq}`;
}

export function diffGroups(deployed: Record<string, DeployedGroup>, target: Record<string, JobSpec>, seq: string): RolloutGroup[] {
  const types = [...new Set([...Object.keys(deployed), ...Object.keys(target)])].sort();
  return types.map((type): RolloutGroup => {
    const from = deployed[type];
    const spec = target[type];
    if (!spec) return { type, from, fresh: false };
    if (from && sameProcesses(from.spec, spec)) return { type, from, to: { job: from.job, spec }, fresh: false };
    return { type, ...(from ? { from } : {}), to: { job: groupName(type, seq), spec }, fresh: true };
  });
}

export interface StepInput {
  groups: RolloutGroup[];
  strategy: Strategy;
  /** Observed jobs of the app's formation. */
  jobs: Job[];
  now: number;
  /** When the healthy count last grew (or the rollout started). */
  progressAt: number;
  /** Fail when nothing got healthy for this long (a group's own health check timeout, when it has one, instead). */
  timeoutMs: number;
  /** A process without a service counts as healthy after running this long without a restart. */
  stableMs: number;
}

export interface StepFailure {
  check: 'crashed' | 'health' | 'placement' | 'formation';
  type: string;
  message: string;
  /** The job whose output explains it, if any. */
  jobId: string | null;
}

export interface Step {
  /** The layer-0 jobs to put now. */
  jobs: Record<string, JobSpec>;
  progress: Record<string, { healthy: number; want: number }>;
  /** Healthy processes over all groups (the orchestrator restarts the timeout when it grows). */
  healthy: number;
  done: boolean;
  failure: StepFailure | null;
}

export function isHealthy(job: Job, spec: JobSpec, now: number, stableMs: number): boolean {
  if (job.state !== 'running' || job.restartCount > 0) return false;
  return spec.service ? job.registered : Date.parse(job.createdAt) + stableMs <= now;
}

function crashed(job: Job): boolean {
  return job.restartCount > 0 || job.state === 'exited' || job.state === 'restarting';
}

export function planStep(i: StepInput): Step {
  const jobs: Record<string, JobSpec> = {};
  const progress: Step['progress'] = {};
  let healthyTotal = 0;
  let done = true;
  let failure: StepFailure | null = null;
  const byName = new Map<string, Job[]>();
  for (const j of i.jobs) (byName.get(j.jobName) ?? byName.set(j.jobName, []).get(j.jobName)!).push(j);

  for (const g of i.groups) {
    if (!g.to) {
      continue; // a type that left: its old group stays until the end (below)
    }
    const want = g.to.spec.count;
    const mine = byName.get(g.to.job) ?? [];
    const healthy = Math.min(want, mine.filter((j) => isHealthy(j, g.to!.spec, i.now, i.stableMs)).length);
    progress[g.type] = { healthy, want };
    healthyTotal += healthy;
    if (healthy < want) done = false;
    if (g.fresh && !failure) {
      const bad = mine.find(crashed);
      if (bad) {
        const how = bad.exitCode === null ? 'exited' : `exited with code ${bad.exitCode}`;
        const restarts = bad.restartCount > 0 ? `, restarted ${bad.restartCount} time${bad.restartCount === 1 ? '' : 's'}` : '';
        failure = { check: 'crashed', type: g.type, jobId: bad.id, message: `${g.type} process crashed: ${how}${restarts} (${bad.state})` };
      }
    }
    if (!g.fresh) {
      jobs[g.to.job] = g.to.spec;
      continue;
    }
    const count = i.strategy === 'rolling' ? Math.min(want, healthy + 1) : want;
    jobs[g.to.job] = { ...g.to.spec, count };
    if (g.from) {
      const old = i.strategy === 'rolling' ? Math.max(0, Math.min(g.from.spec.count, want - healthy)) : g.from.spec.count;
      jobs[g.from.job] = { ...g.from.spec, count: old };
    }
  }
  if (done) {
    // Only the new groups remain: the scheduler drains and stops the rest.
    for (const k of Object.keys(jobs)) delete jobs[k];
    for (const g of i.groups) if (g.to) jobs[g.to.job] = g.to.spec;
  } else {
    for (const g of i.groups) if (!g.to && g.from) jobs[g.from.job] = g.from.spec;
  }
  // Each unfinished group may take its own health check's time (app.json's `timeout`), else the rollout's.
  const limit = Math.max(0, ...i.groups.filter((g) => g.to && (progress[g.type]?.healthy ?? 0) < g.to.spec.count).map((g) => g.to!.spec.health?.timeoutMs ?? i.timeoutMs));
  if (!failure && !done && i.now - i.progressAt > (limit || i.timeoutMs)) failure = timeoutFailure({ ...i, timeoutMs: limit || i.timeoutMs }, progress);
  return { jobs, progress, healthy: healthyTotal, done: done && !failure, failure };
}

function timeoutFailure(i: StepInput, progress: Step['progress']): StepFailure {
  const secs = Math.round(i.timeoutMs / 1000);
  for (const g of i.groups) {
    const p = progress[g.type];
    if (!g.to || !p || p.healthy >= p.want) continue;
    const mine = i.jobs.filter((j) => j.jobName === g.to!.job);
    const pending = mine.filter((j) => j.state === 'pending' || j.hostId === null);
    if (pending.length > 0) {
      return { check: 'placement', type: g.type, jobId: null, message: `${g.type}: ${pending.length} process${pending.length === 1 ? '' : 'es'} could not be placed (${pending[0]!.reason || 'no reason given'}) within ${secs} s` };
    }
    const stuck = mine.find((j) => !isHealthy(j, g.to!.spec, i.now, i.stableMs)) ?? null;
    const check = g.to.spec.service ? `passed the health check (${describeCheck(g.to.spec)})` : 'kept running';
    return { check: 'health', type: g.type, jobId: stuck?.id ?? null, message: `${g.type}: ${p.healthy} of ${p.want} processes ${check} within ${secs} s` };
  }
  return { check: 'health', type: '', jobId: null, message: `no progress within ${secs} s` };
}

/** Observed jobs that belong to no group the rollout ends with (still draining or stopping). */
export function leftovers(groups: RolloutGroup[], jobs: Job[]): Job[] {
  const keep = new Set(groups.flatMap((g) => (g.to ? [g.to.job] : [])));
  return jobs.filter((j) => !keep.has(j.jobName));
}

/** `TCP connect to port 5000` or `GET / below 500 on port 5000`, for failure messages. */
function describeCheck(spec: JobSpec): string {
  const port = spec.ports[0];
  return spec.health?.type === 'http' ? `GET ${spec.health.path} below 500 on port ${port}` : `TCP connect to port ${port}`;
}
