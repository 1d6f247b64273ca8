// The rollout step from plain data: rolling grows new processes one at a time and shrinks the old
// group only behind healthy ones; all-at-once; scaling keeps processes; crashes and timeouts fail.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Job, JobSpec } from '../../../../../layer0/scheduler/types.ts';
import { diffGroups, leftovers, planStep, type StepInput } from '../../../../../layer1/controller/deploy/rollout-plan.ts';
import { processSpecs } from '../../../../../layer1/controller/deploy/formation.ts';
import { release } from './fixtures.ts';

const app = { id: 'a1', name: 'shop' };
const T0 = Date.parse('2024-01-01T00:00:00Z');
const specs = (v: number, web = 1, extra = {}) => processSpecs(app, release({ version: v, procfile: { web: 'httpd' }, ...extra }), { web: { count: web, memory: '256M', cpu: 0 } }, {});
let n = 0;
function job(jobName: string, o: Partial<Job> = {}): Job {
  return { id: `c${++n}`, formationId: 'a1', jobName, hostId: 'h1', state: 'running', reason: '', restartCount: 0, exitCode: null, ports: {}, registered: true, labels: {}, createdAt: new Date(T0).toISOString(), ...o };
}
const counts = (jobs: Record<string, JobSpec>) => Object.fromEntries(Object.entries(jobs).map(([k, v]) => [k, v.count]));

describe('rollout plan', () => {
  const deployed = { web: { job: 'web-1', spec: specs(3, 3).web! } };
  const base = (o: Partial<StepInput>): StepInput => ({ groups: diffGroups(deployed, specs(4, 3), '2'), strategy: 'rolling', jobs: [], now: T0 + 1000, progressAt: T0, timeoutMs: 60_000, stableMs: 3000, ...o });

  it('diffs groups: a new release is a fresh group named by the deployment, a count change is not', () => {
    assert.deepEqual(diffGroups(deployed, specs(4, 3), '2').map((g) => [g.type, g.from?.job, g.to?.job, g.fresh]), [['web', 'web-1', 'web-2', true]]);
    assert.deepEqual(diffGroups(deployed, specs(3, 5), '2').map((g) => [g.type, g.to?.job, g.fresh]), [['web', 'web-1', false]]);
    const gone = diffGroups(deployed, {}, '2');
    assert.deepEqual(gone.map((g) => [g.type, g.from?.job, g.to]), [['web', 'web-1', undefined]]);
  });

  it('rolling: one new process at a time; the old group shrinks only behind healthy new ones', () => {
    const old = [job('web-1'), job('web-1'), job('web-1')];
    let s = planStep(base({ jobs: old }));
    assert.deepEqual(counts(s.jobs), { 'web-2': 1, 'web-1': 3 });
    assert.equal(s.done, false);
    // Running but not yet registered: nothing changes.
    s = planStep(base({ jobs: [...old, job('web-2', { registered: false })] }));
    assert.deepEqual(counts(s.jobs), { 'web-2': 1, 'web-1': 3 });
    s = planStep(base({ jobs: [...old, job('web-2')] }));
    assert.deepEqual(counts(s.jobs), { 'web-2': 2, 'web-1': 2 });
    assert.equal(s.healthy, 1);
    s = planStep(base({ jobs: [old[0]!, old[1]!, job('web-2'), job('web-2')] }));
    assert.deepEqual(counts(s.jobs), { 'web-2': 3, 'web-1': 1 });
    s = planStep(base({ jobs: [old[0]!, job('web-2'), job('web-2'), job('web-2')] }));
    assert.equal(s.done, true);
    assert.deepEqual(counts(s.jobs), { 'web-2': 3 }); // the old group leaves the formation
    assert.deepEqual(leftovers(base({}).groups, [old[0]!, job('web-2')]).map((j) => j.jobName), ['web-1']);
  });

  it('all-at-once: every new process at once, the old group kept until all are healthy', () => {
    const old = [job('web-1'), job('web-1'), job('web-1')];
    let s = planStep(base({ strategy: 'all-at-once', jobs: old }));
    assert.deepEqual(counts(s.jobs), { 'web-2': 3, 'web-1': 3 });
    s = planStep(base({ strategy: 'all-at-once', jobs: [...old, job('web-2'), job('web-2'), job('web-2', { registered: false })] }));
    assert.deepEqual(counts(s.jobs), { 'web-2': 3, 'web-1': 3 });
    s = planStep(base({ strategy: 'all-at-once', jobs: [...old, job('web-2'), job('web-2'), job('web-2')] }));
    assert.ok(s.done);
    assert.deepEqual(counts(s.jobs), { 'web-2': 3 });
  });

  it('scaling keeps the group and waits for the added processes', () => {
    const groups = diffGroups(deployed, specs(3, 5), '2');
    let s = planStep(base({ groups, jobs: [job('web-1'), job('web-1'), job('web-1')] }));
    assert.deepEqual(counts(s.jobs), { 'web-1': 5 });
    assert.equal(s.done, false);
    s = planStep(base({ groups, jobs: [1, 2, 3, 4, 5].map(() => job('web-1')) }));
    assert.ok(s.done);
  });

  it('a process without a service is healthy after running stableMs without a restart', () => {
    const w = processSpecs(app, release({ procfile: { worker: 'sleep 1' } }), { worker: { count: 1, memory: '256M', cpu: 0 } }, {});
    const groups = diffGroups({}, w, '1');
    assert.equal(planStep(base({ groups, jobs: [job('worker-1', { registered: false })], now: T0 + 2000 })).done, false);
    assert.equal(planStep(base({ groups, jobs: [job('worker-1', { registered: false })], now: T0 + 3000 })).done, true);
  });

  it('fails on a crash of a new process (exit, restarts), naming it', () => {
    const old = [job('web-1')];
    for (const bad of [{ restartCount: 1, state: 'running' as const }, { state: 'exited' as const, exitCode: 1 }, { state: 'restarting' as const, exitCode: 1, restartCount: 2 }]) {
      const j = job('web-2', { registered: false, ...bad });
      const s = planStep(base({ jobs: [...old, j] }));
      assert.equal(s.failure?.check, 'crashed');
      assert.equal(s.failure?.jobId, j.id);
      assert.match(s.failure!.message, /web process crashed/);
      assert.equal(s.done, false);
    }
    // An old process with restarts in its past is no reason to fail a scale.
    const groups = diffGroups(deployed, specs(3, 2), '2');
    assert.equal(planStep(base({ groups, jobs: [job('web-1', { restartCount: 4 })] })).failure, null);
  });

  it('fails when nothing got healthy within the timeout: health check or placement', () => {
    const s = planStep(base({ jobs: [job('web-1'), job('web-2', { registered: false })], now: T0 + 61_000 }));
    assert.equal(s.failure?.check, 'health');
    assert.match(s.failure!.message, /web: 0 of 3 processes passed the health check \(GET \/ below 500 on port 5000\) within 60 s/);
    const p = planStep(base({ jobs: [job('web-2', { hostId: null, state: 'pending', reason: 'insufficient_memory' })], now: T0 + 61_000 }));
    assert.equal(p.failure?.check, 'placement');
    assert.match(p.failure!.message, /insufficient_memory/);
    assert.equal(planStep(base({ jobs: [], now: T0 + 59_000 })).failure, null);
  });

  it('a group with its own health check timeout (app.json) fails after it, not after the rollout\'s', () => {
    const short = diffGroups(deployed, specs(4, 1, { healthchecks: { web: { timeout: 5 } } }), '2');
    assert.equal(planStep(base({ groups: short, jobs: [job('web-2', { registered: false })], now: T0 + 4000 })).failure, null);
    const s = planStep(base({ groups: short, jobs: [job('web-2', { registered: false })], now: T0 + 6000 }));
    assert.equal(s.failure?.check, 'health');
    assert.match(s.failure!.message, /within 5 s/);
  });

  it('a type that leaves the Procfile is kept until the rest is done, then removed', () => {
    const two = { ...deployed, worker: { job: 'worker-1', spec: { ...deployed.web.spec, count: 1 } } };
    const groups = diffGroups(two, specs(4, 1), '2');
    let s = planStep(base({ groups, jobs: [] }));
    assert.equal(s.jobs['worker-1']?.count, 1);
    s = planStep(base({ groups, jobs: [job('web-2')] }));
    assert.ok(s.done);
    assert.deepEqual(counts(s.jobs), { 'web-2': 1 });
  });
});
