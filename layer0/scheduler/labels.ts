// The labels the scheduler puts on every job it starts (formation, job name, spec hash,
// limits), and `specHash`, which tells plan() whether a running job still matches its spec.
import { createHash } from 'node:crypto';
import { MEMORY_LABEL, type Job, type JobSpec } from './types.ts';

export const LABEL_FORMATION = 'slipway.formation';
export const LABEL_JOB = 'slipway.job';
export const LABEL_SPEC_HASH = 'slipway.spec-hash';
/** The job's limits, so a snapshot can charge them to its host even after the spec changed. */
export const LABEL_MEMORY = MEMORY_LABEL;
export const LABEL_CPUS = 'slipway.cpus';
/** The job's number within its group (1, 2, …), set at start. */
export const LABEL_INDEX = 'slipway.index';

const SCHEDULER_LABELS = new Set([LABEL_FORMATION, LABEL_JOB, LABEL_SPEC_HASH, LABEL_MEMORY, LABEL_CPUS, LABEL_INDEX]);
const DEFAULT_MEMORY = 256 * 1024 * 1024;

/**
 * A short stable hash of everything that needs a new container when it changes: the spec
 * without `count` (scaling is not a change) and without the scheduler's own labels, so
 * `specHash(withSchedulerLabels(f, j, spec)) === specHash(spec)`.
 */
export function specHash(spec: JobSpec): string {
  const { count: _count, labels, ...rest } = spec;
  const own = Object.fromEntries(Object.entries(labels ?? {}).filter(([k]) => !SCHEDULER_LABELS.has(k)));
  return createHash('sha256').update(stableJson({ ...rest, labels: own })).digest('hex').slice(0, 16);
}

export function jobLabels(formationId: string, jobName: string, spec: JobSpec): Record<string, string> {
  return {
    [LABEL_FORMATION]: formationId,
    [LABEL_JOB]: jobName,
    [LABEL_SPEC_HASH]: specHash(spec),
    [LABEL_MEMORY]: String(spec.memory),
    [LABEL_CPUS]: String(spec.cpus),
  };
}

/** The spec a start action hands the agent: the desired one with the scheduler's labels added. */
export function withSchedulerLabels(formationId: string, jobName: string, spec: JobSpec): JobSpec {
  return { ...spec, labels: { ...spec.labels, ...jobLabels(formationId, jobName, spec) } };
}

/** A job's limits: from its labels, else from the desired spec, else the schema's default. */
export function jobResources(job: Job, desired?: JobSpec): { memory: number; cpus: number } {
  const mem = Number(job.labels[LABEL_MEMORY]);
  const cpus = Number(job.labels[LABEL_CPUS]);
  return {
    memory: job.labels[LABEL_MEMORY] !== undefined && Number.isFinite(mem) ? mem : (desired?.memory ?? DEFAULT_MEMORY),
    cpus: job.labels[LABEL_CPUS] !== undefined && Number.isFinite(cpus) ? cpus : (desired?.cpus ?? 0),
  };
}

/** JSON with sorted object keys and undefined members dropped, so equal specs hash equally. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : stableJson(x))).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
