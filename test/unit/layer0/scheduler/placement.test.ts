// Placement: filters with their reason codes, spread before least-allocated, many jobs at once,
// determinism, and the 1,000-jobs-over-50-hosts budget.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitsCpu } from '../../../../layer0/scheduler/placement/fits-cpu.ts';
import { addJob, cloneSnapshot, groupKey, hostSlot, place, snapshotOf, type PlacementRequest, type Snapshot } from '../../../../layer0/scheduler/placement/index.ts';
import { leastAllocated } from '../../../../layer0/scheduler/placement/least-allocated.ts';
import { spread } from '../../../../layer0/scheduler/placement/spread.ts';
import { GiB, MiB } from './fixtures.ts';

const req = (formationId = 'f', memory = 256 * MiB, cpus = 0, jobName = 'web'): PlacementRequest => ({ formationId, jobName, memory, cpus });
const equalHosts = (n: number, memory = 8 * GiB): Snapshot => snapshotOf(Array.from({ length: n }, (_, i) => hostSlot(String.fromCharCode(99 - i), { memory, cpus: 4 })));
const tally = (hostIds: (string | null)[]) => hostIds.reduce<Record<string, number>>((m, h) => ((m[h ?? 'none'] = (m[h ?? 'none'] ?? 0) + 1), m), {});

describe('place', () => {
  it('spreads 6 jobs over 3 equal hosts 2/2/2, charging each placement as it goes', () => {
    const out = place(equalHosts(3), Array(6).fill(req()));
    assert.deepEqual(tally(out.map((p) => p.hostId)), { a: 2, b: 2, c: 2 });
  });

  it('breaks ties by host id and leaves the given snapshot untouched', () => {
    const s = equalHosts(3);
    assert.equal(place(s, [req()])[0]!.hostId, 'a');
    assert.equal(place(s, [req()])[0]!.hostId, 'a');
    assert.deepEqual(s.hosts.map((h) => h.used.memory), [0, 0, 0]);
  });

  it('is deterministic: the same input gives the same placements', () => {
    const s = snapshotOf([hostSlot('x', { memory: 3 * GiB, cpus: 2 }), hostSlot('y', { memory: 5 * GiB, cpus: 8 }), hostSlot('z', { memory: 5 * GiB, cpus: 8 })]);
    const reqs = Array.from({ length: 40 }, (_, i) => req(`f${i % 4}`, (128 + (i % 3) * 128) * MiB, i % 2));
    assert.deepEqual(place(s, reqs), place(cloneSnapshot(s), reqs));
  });

  it('never chooses a host with too little room left for a 1 GiB job', () => {
    const small = hostSlot('a-small', { memory: 1536 * MiB, cpus: 4 });
    addJob(small, groupKey('other', 'web'), { memory: 768 * MiB, cpus: 0 }); // 768 MiB left
    const tiny = hostSlot('b-tiny', { memory: 512 * MiB, cpus: 4 });
    const big = hostSlot('c-big', { memory: 4 * GiB, cpus: 4 });
    const out = place(snapshotOf([small, tiny, big]), Array(5).fill(req('f', GiB)));
    assert.deepEqual(out.map((p) => p.hostId), ['c-big', 'c-big', 'c-big', 'c-big', null]);
    assert.equal(out[4]!.reason, 'insufficient_memory');
    assert.deepEqual(out[4]!.rejected, { insufficient_memory: 3 });
  });

  it('puts a formation on a host without its jobs before an emptier host with one (spread first)', () => {
    const bigWithOne = hostSlot('a', { memory: 64 * GiB, cpus: 32 });
    addJob(bigWithOne, groupKey('f', 'web'), { memory: 256 * MiB, cpus: 0 });
    const small = hostSlot('b', { memory: 2 * GiB, cpus: 1 });
    assert.equal(place(snapshotOf([bigWithOne, small]), [req()])[0]!.hostId, 'b');
  });

  it('puts other formations on the least allocated host', () => {
    const busy = hostSlot('a', { memory: 8 * GiB, cpus: 4 });
    addJob(busy, groupKey('other', 'web'), { memory: 6 * GiB, cpus: 3 });
    const idle = hostSlot('b', { memory: 8 * GiB, cpus: 4 });
    assert.equal(place(snapshotOf([busy, idle]), [req()])[0]!.hostId, 'b');
  });

  it('reports no_hosts, host_unavailable, and the resource that ran out', () => {
    assert.deepEqual(place(snapshotOf([]), [req()])[0], { request: req(), hostId: null, reason: 'no_hosts', rejected: {} });
    const lost = hostSlot('a', { memory: 8 * GiB, cpus: 4 }, 'lost');
    const draining = hostSlot('b', { memory: 8 * GiB, cpus: 4 }, 'draining');
    assert.equal(place(snapshotOf([lost, draining]), [req()])[0]!.reason, 'host_unavailable');
    // One host down, one too small: the resource says more than the outage (ties go to it too).
    const small = hostSlot('c', { memory: 128 * MiB, cpus: 4 });
    assert.equal(place(snapshotOf([lost, small]), [req()])[0]!.reason, 'insufficient_memory');
    const oneCpu = hostSlot('d', { memory: 8 * GiB, cpus: 1 });
    const out = place(snapshotOf([oneCpu]), [req('f', 256 * MiB, 1), req('f', 256 * MiB, 0.5)]);
    assert.deepEqual(out.map((p) => [p.hostId, p.reason]), [['d', ''], [null, 'insufficient_cpu']]);
  });

  it('checks CPUs only for jobs that ask for them, and fits fractional sums exactly', () => {
    const noCpus = hostSlot('a', { memory: GiB, cpus: 0 });
    assert.equal(fitsCpu.filter(noCpus, { ...req(), group: 'f/web' }), true);
    const h = hostSlot('b', { memory: 8 * GiB, cpus: 0.3 });
    assert.deepEqual(place(snapshotOf([h]), [req('f', MiB * 64, 0.1), req('f', MiB * 64, 0.2)]).map((p) => p.hostId), ['b', 'b']);
  });

  it('keeps every score within 0–100', () => {
    const h = hostSlot('a', { memory: GiB, cpus: 2 });
    const r = { ...req('f', 2 * GiB, 4), group: 'f/web' };
    for (const plugin of [spread, leastAllocated]) {
      const s = plugin.score(h, r);
      assert.ok(s >= 0 && s <= 100, `${plugin.name}: ${s}`);
    }
    addJob(h, 'f/web', { memory: 4 * GiB, cpus: 8 }); // overcommitted
    assert.equal(leastAllocated.score(h, r), 0);
  });

  it('places 1,000 jobs over 50 hosts well within 200 ms', () => {
    const s = snapshotOf(Array.from({ length: 50 }, (_, i) => hostSlot(`h${String(i).padStart(2, '0')}`, { memory: (16 + (i % 4) * 16) * GiB, cpus: 8 + (i % 3) * 8 })));
    const reqs = Array.from({ length: 1000 }, (_, i) => req(`f${i % 20}`, (128 + (i % 4) * 128) * MiB, (i % 5) / 4));
    place(s, reqs); // warm-up
    const t = performance.now();
    const out = place(s, reqs);
    const ms = performance.now() - t;
    assert.equal(out.filter((p) => !p.hostId).length, 0);
    assert.ok(ms < 200, `${ms.toFixed(1)} ms`);
  });
});
