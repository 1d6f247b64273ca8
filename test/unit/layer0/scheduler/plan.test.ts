// plan(): scaling, capacity, lost and returning hosts, spec changes (surge and rolling),
// deleted formations, exited jobs, pending records, idempotence and determinism, all from plain data.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LABEL_SPEC_HASH, specHash, withSchedulerLabels } from '../../../../layer0/scheduler/labels.ts';
import { plan, type Observed } from '../../../../layer0/scheduler/plan.ts';
import { apply, converge, formation, GiB, host, MiB, ofType, perHost, total } from './fixtures.ts';

const three = () => ({ hosts: [host('a'), host('b'), host('c')], jobs: [] }) as Observed;
const web = (count: number, extra = {}) => [formation('f', { web: { count, ...extra } })];

describe('plan', () => {
  it('scales a formation to 6 on 3 hosts as 2 per host, and has nothing left to do after', () => {
    const actions = plan(web(6), three());
    assert.equal(ofType(actions, 'start').length, 6);
    const o = apply(three(), actions);
    assert.deepEqual(perHost(o, 'f'), { a: 2, b: 2, c: 2 });
    assert.deepEqual(plan(web(6), o), []);
  });

  it('scales 6 → 2 → 0 with exact counts, stopping from the fullest host and the newest first', () => {
    let o = apply(three(), plan(web(6), three()));
    const down = plan(web(2), o);
    assert.deepEqual(down.map((a) => a.type === 'stop' && a.reason), ['surplus', 'surplus', 'surplus', 'surplus']);
    o = apply(o, down);
    assert.equal(total(perHost(o, 'f')), 2);
    assert.ok(Math.max(...Object.values(perHost(o, 'f'))) === 1, 'the two left are on different hosts');
    assert.deepEqual(plan(web(2), o), []);
    o = apply(o, plan(web(0), o));
    assert.equal(total(perHost(o, 'f')), 0);
    assert.deepEqual(plan(web(0), o), []);
  });

  it('numbers the jobs of a group 1..count, reuses freed numbers, and restarts numbering for a new spec', () => {
    const idx = (o: Observed) => o.jobs.map((j) => Number(j.labels['slipway.index'])).sort((a, b) => a - b);
    let o = apply(three(), plan(web(3), three()));
    assert.deepEqual(idx(o), [1, 2, 3]);
    o = { ...o, jobs: o.jobs.filter((j) => j.labels['slipway.index'] !== '2') }; // web.2 died
    const again = ofType(plan(web(3), o), 'start');
    assert.deepEqual(again.map((s) => s.index), [2]);
    o = apply(o, plan(web(5), o));
    assert.deepEqual(idx(o), [1, 2, 3, 4, 5]);
    // A new spec's jobs take the numbers of those they replace while the old ones still run.
    const next = ofType(plan(web(5, { image: 'img:2' }), o), 'start');
    assert.deepEqual(next.map((s) => s.index).sort(), [1, 2, 3, 4, 5]);
  });

  it('never puts a 1 GiB job on a host too small for it', () => {
    const o: Observed = { hosts: [host('a-small', 768 * MiB), host('b', 4 * GiB), host('c', 4 * GiB)], jobs: [] };
    const starts = ofType(plan(web(8, { memory: GiB }), o), 'start');
    assert.equal(starts.length, 8);
    assert.ok(starts.every((s) => s.hostId !== 'a-small'));
  });

  it('reports what does not fit as pending with a reason, once, and places it when room appears', () => {
    const small: Observed = { hosts: [host('a', 2 * GiB)], jobs: [] };
    const actions = plan(web(3, { memory: GiB }), small);
    assert.equal(ofType(actions, 'start').length, 2);
    assert.deepEqual(ofType(actions, 'pending'), [{ type: 'pending', formationId: 'f', jobName: 'web', count: 1, reason: 'insufficient_memory' }]);
    let o = apply(small, actions);
    assert.deepEqual(plan(web(3, { memory: GiB }), o), [], 'an unchanged pending record is not rewritten');
    o = { ...o, hosts: [...o.hosts, host('b', 2 * GiB)] };
    const more = plan(web(3, { memory: GiB }), o);
    assert.deepEqual(more.map((a) => [a.type, a.type === 'start' ? a.hostId : a.type === 'pending' ? a.count : '']), [['start', 'b'], ['pending', 0]]);
    assert.deepEqual(plan(web(1), { hosts: [], jobs: [] }), [{ type: 'pending', formationId: 'f', jobName: 'web', count: 1, reason: 'no_hosts' }]);
  });

  it('replaces the jobs of a lost host elsewhere, and stops the surplus when it comes back', () => {
    const o = apply(three(), plan(web(6), three()));
    const onC = o.jobs.filter((j) => j.hostId === 'c');
    for (const lost of [{ ...o, lostHostIds: ['c'] }, { ...o, hosts: o.hosts.filter((h) => h.id !== 'c') }]) {
      const actions = plan(web(6), lost);
      assert.deepEqual(ofType(actions, 'start').map((s) => s.hostId).sort(), ['a', 'b']);
      assert.deepEqual(ofType(actions, 'stop').map((s) => [s.jobId, s.reason]), onC.map((j) => [j.id, 'host_lost']));
    }
    const healed = apply({ ...o, lostHostIds: ['c'] }, plan(web(6), { ...o, lostHostIds: ['c'] }));
    assert.deepEqual(perHost(healed, 'f'), { a: 3, b: 3 });
    // Host c returns, its two jobs still running.
    const back: Observed = { hosts: three().hosts, jobs: [...healed.jobs, ...onC] };
    const stops = ofType(plan(web(6), back), 'stop');
    assert.deepEqual(stops.map((s) => [s.hostId, s.reason]), [['a', 'surplus'], ['b', 'surplus']]);
    const replacements = healed.jobs.filter((j) => !o.jobs.includes(j)).map((j) => j.id);
    assert.deepEqual(stops.map((s) => s.jobId).sort(), replacements.sort(), 'the newest (the replacements) go');
    const exact = apply(back, stops);
    assert.deepEqual(perHost(exact, 'f'), { a: 2, b: 2, c: 2 });
    assert.deepEqual(plan(web(6), exact), []);
  });

  it('replaces changed jobs by surge: new ones start first, old ones stop once new ones run', () => {
    let o = apply(three(), plan(web(3), three()));
    const changed = web(3, { image: 'img:2' });
    const first = plan(changed, o);
    assert.deepEqual(first.map((a) => a.type), ['start', 'start', 'start']);
    o = apply(o, first, 'starting');
    assert.deepEqual(plan(changed, o), [], 'old jobs stay while the new ones are only starting');
    o = { ...o, jobs: o.jobs.map((j) => (j.state === 'starting' ? { ...j, state: 'running' } : j)) };
    const second = plan(changed, o);
    assert.deepEqual(second.map((a) => a.type === 'stop' && a.reason), ['spec_changed', 'spec_changed', 'spec_changed']);
    o = apply(o, second);
    assert.ok(o.jobs.every((j) => j.labels[LABEL_SPEC_HASH] === specHash(changed[0]!.jobs.web!)));
    assert.deepEqual(plan(changed, o), []);
  });

  it('rolls one job at a time when there is no room to surge, never below desired minus one', () => {
    const tight: Observed = { hosts: [host('a', GiB), host('b', GiB), host('c', GiB)], jobs: [] };
    const o = apply(tight, plan(web(3, { memory: GiB }), tight));
    const changed = web(3, { memory: GiB, image: 'img:2' });
    const { observed, rounds } = converge(changed, o, (s) => assert.ok(total(perHost(s, 'f')) >= 2));
    const hash = specHash(changed[0]!.jobs.web!);
    assert.deepEqual(perHost(observed, 'f'), { a: 1, b: 1, c: 1 });
    assert.ok(observed.jobs.every((j) => j.labels[LABEL_SPEC_HASH] === hash) && rounds > 3);
    // A new spec that fits nowhere even in an old job's room leaves the old jobs running.
    const huge = plan(web(3, { memory: 2 * GiB }), o);
    assert.deepEqual(huge.map((a) => a.type), ['pending']);
  });

  it('stops the jobs of a deleted formation or job and clears their pending records', () => {
    const desired = [formation('f', { web: { count: 2 }, worker: { count: 1 } }), formation('g', { web: { count: 2, memory: 64 * GiB } })];
    const o = apply(three(), plan(desired, three()));
    assert.equal(o.jobs.filter((j) => j.state === 'pending').length, 2);
    const actions = plan([formation('f', { web: { count: 2 } })], o);
    assert.deepEqual(actions.map((a) => (a.type === 'stop' ? `${a.jobName}:${a.reason}` : `${a.type}:${a.formationId}:${(a as { count: number }).count}`)), [
      'worker:surplus',
      'pending:g:0',
    ]);
    assert.deepEqual(ofType(plan([], o), 'stop').map((s) => s.reason), ['formation_deleted', 'formation_deleted', 'formation_deleted']);
  });

  it('removes and replaces exited jobs, and leaves restarting and stopping ones alone', () => {
    const o = apply(three(), plan(web(3), three()));
    const [x, y, z] = o.jobs;
    const states: Observed = { ...o, jobs: [{ ...x!, state: 'exited', exitCode: 1 }, { ...y!, state: 'restarting' }, { ...z!, state: 'stopping' }] };
    const actions = plan(web(3), states);
    assert.deepEqual(actions.map((a) => (a.type === 'stop' ? `stop:${a.jobId}:${a.reason}` : a.type)), ['start', 'start', `stop:${x!.id}:exited`]);
  });

  it('is deterministic and independent of the order jobs are listed in', () => {
    const desired = [formation('f', { web: { count: 5 }, worker: { count: 2, cpus: 1 } }), formation('e', { web: { count: 4 } })];
    const o = apply(three(), plan(desired, three()));
    const shuffled: Observed = { ...o, jobs: [...o.jobs].reverse(), hosts: [...o.hosts].reverse() };
    const scaled = [formation('f', { web: { count: 9 }, worker: { count: 1, cpus: 1 } }), formation('e', { web: { count: 1 } })];
    assert.deepEqual(plan(scaled, o), plan(scaled, shuffled));
    assert.deepEqual(plan(scaled, o), plan(scaled, o));
  });

  it('hashes the spec without its count or the scheduler labels', () => {
    const [f] = web(3);
    const spec = f!.jobs.web!;
    assert.equal(specHash({ ...spec, count: 7 }), specHash(spec));
    assert.equal(specHash(withSchedulerLabels('f', 'web', spec)), specHash(spec));
    assert.notEqual(specHash({ ...spec, env: ['A=1'] }), specHash(spec));
  });
});
