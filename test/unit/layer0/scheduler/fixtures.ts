// Plain-data builders for the scheduler's unit tests (hosts, formations, jobs) and `apply`,
// which plays a plan's actions onto observed state the way a perfect applier would.
import type { Action, Observed } from '../../../../layer0/scheduler/plan.ts';
import { plan } from '../../../../layer0/scheduler/plan.ts';
import { FormationSchema, type Formation, type HostInfo, type Job, type JobSpecSchema } from '../../../../layer0/scheduler/types.ts';
import type { z } from 'zod';

export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

export function host(id: string, memory = 8 * GiB, cpus = 4): HostInfo {
  return { id, agentUrl: `http://${id}:1`, address: id, capacity: { memory, cpus }, labels: {} };
}

/** One formation; each job defaults to image `img:1`, 256 MiB, no CPUs. */
export function formation(id: string, jobs: Record<string, Partial<z.input<typeof JobSpecSchema>> & { count: number }>): Formation {
  const specs = Object.fromEntries(Object.entries(jobs).map(([name, j]) => [name, { image: 'img:1', cmd: ['run'], ...j }]));
  return FormationSchema.parse({ id, jobs: specs });
}

let seq = 0;
const at = (n: number) => new Date(Date.UTC(2030, 0, 1) + n * 1000).toISOString();

/** A job record as an agent would report it for a start action's spec. */
export function jobFor(a: Extract<Action, { type: 'start' }>, state: Job['state'] = 'running'): Job {
  const n = ++seq;
  return {
    id: `c${String(n).padStart(6, '0')}`, formationId: a.formationId, jobName: a.jobName, hostId: a.hostId, state,
    reason: '', restartCount: 0, exitCode: null, ports: {}, registered: state === 'running', labels: { ...a.spec.labels, 'slipway.index': String(a.index) }, createdAt: at(n),
  };
}

/** Observed state after the actions: starts run (in `state`), stops are gone, pending records are rewritten. */
export function apply(o: Observed, actions: Action[], state: Job['state'] = 'running'): Observed {
  let jobs = [...o.jobs];
  for (const a of actions) {
    if (a.type === 'start') jobs.push(jobFor(a, state));
    else if (a.type === 'stop') jobs = jobs.filter((j) => j.id !== a.jobId);
    else {
      jobs = jobs.filter((j) => !(j.state === 'pending' && j.formationId === a.formationId && j.jobName === a.jobName));
      for (let i = 0; i < a.count; i++) {
        jobs.push({
          id: `pending:${a.formationId}:${a.jobName}:${i}`, formationId: a.formationId, jobName: a.jobName, hostId: null, state: 'pending',
          reason: a.reason, restartCount: 0, exitCode: null, ports: {}, registered: false, labels: {}, createdAt: at(++seq),
        });
      }
    }
  }
  return { ...o, jobs };
}

/** Plans and applies until nothing is left to do; `check` sees every intermediate state. */
export function converge(desired: Formation[], o: Observed, check?: (o: Observed) => void, maxRounds = 10): { observed: Observed; rounds: number } {
  for (let rounds = 0; rounds < maxRounds; rounds++) {
    const actions = plan(desired, o);
    if (actions.length === 0) return { observed: o, rounds };
    o = apply(o, actions);
    check?.(o);
  }
  throw new Error(`no fixed point after ${maxRounds} rounds`);
}

/** Alive jobs of a group per host id. */
export function perHost(o: Observed, formationId: string, jobName = 'web'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const j of o.jobs) {
    if (j.formationId !== formationId || j.jobName !== jobName || !j.hostId) continue;
    if (!['starting', 'running', 'restarting'].includes(j.state)) continue;
    out[j.hostId] = (out[j.hostId] ?? 0) + 1;
  }
  return out;
}

export const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
export const ofType = <T extends Action['type']>(actions: Action[], type: T) => actions.filter((a): a is Extract<Action, { type: T }> => a.type === type);
