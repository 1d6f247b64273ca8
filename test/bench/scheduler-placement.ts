// scheduler-placement: placing 1,000 jobs of 20 formations over 50 in-process hosts of mixed
// capacities in one place() call. Baseline: for each job, touch each host of the same snapshot once.
import { groupKey, hostSlot, place, snapshotOf, type PlacementRequest, type Snapshot } from '../../layer0/scheduler/placement/index.ts';
import { finish, median, percentile, table } from './report.ts';

const N = Math.max(10, Number(process.env.BENCH_N ?? 30));
const TARGET = 200;
const HOSTS = 50;
const JOBS = 1000;
const FORMATIONS = 20;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function snapshot(): Snapshot {
  const sizes = [{ memory: 16 * GiB, cpus: 8 }, { memory: 32 * GiB, cpus: 16 }, { memory: 64 * GiB, cpus: 32 }, { memory: 8 * GiB, cpus: 4 }];
  return snapshotOf(
    Array.from({ length: HOSTS }, (_, i) => {
      // Two hosts are out of service so the filters have something to reject.
      const h = hostSlot(`host-${String(i).padStart(2, '0')}`, sizes[i % sizes.length]!, i === 7 ? 'lost' : i === 31 ? 'draining' : 'ready');
      h.used.memory = (i % 5) * GiB; // some load already placed
      return h;
    }),
  );
}

function requests(): PlacementRequest[] {
  // 20 formations of 1–3 job names with uneven counts, 1,000 jobs in all, interleaved.
  const groups: PlacementRequest[] = [];
  for (let f = 0; f < FORMATIONS; f++) {
    for (let j = 0; j < 1 + (f % 3); j++) {
      groups.push({ formationId: `app-${f}`, jobName: ['web', 'worker', 'clock'][j]!, memory: (128 << ((f + j) % 4)) * MiB, cpus: (f + j) % 4 === 0 ? 0.5 : 0 });
    }
  }
  return Array.from({ length: JOBS }, (_, i) => groups[(i * 7) % groups.length]!);
}

/** The floor: the same loop shape as place() with nothing in it but one read per host. */
function iterate(s: Snapshot, reqs: PlacementRequest[]): number {
  let acc = 0;
  for (const r of reqs) for (const h of s.hosts) acc += h.used.memory > r.memory ? 1 : 0;
  return acc;
}

const snap = snapshot();
const reqs = requests();
for (let i = 0; i < 3; i++) {
  place(snap, reqs);
  iterate(snap, reqs);
}
const placeMs: number[] = [];
const iterMs: number[] = [];
let sink = 0;
let last = place(snap, reqs);
for (let i = 0; i < N; i++) {
  let t = performance.now();
  last = place(snap, reqs);
  placeMs.push(performance.now() - t);
  t = performance.now();
  sink += iterate(snap, reqs);
  iterMs.push(performance.now() - t);
}

const value = median(placeMs);
const base = median(iterMs);
const placed = last.filter((p) => p.hostId).length;
// Spread check: the most jobs of one formation/job on any one host.
const perHost = new Map<string, number>();
for (const p of last) {
  if (!p.hostId) continue;
  const k = `${groupKey(p.request.formationId, p.request.jobName)}@${p.hostId}`;
  perHost.set(k, (perHost.get(k) ?? 0) + 1);
}
console.log(table([
  ['side', 'median ms', 'p90 ms', 'ratio'],
  ['iterate snapshot (floor)', base, percentile(iterMs, 90), 1],
  ['place 1,000 jobs', value, percentile(placeMs, 90), value / base],
]));
console.log(`${HOSTS} hosts, ${JOBS} jobs, ${FORMATIONS} formations; placed ${placed}, pending ${JOBS - placed}; most of one job on one host: ${Math.max(...perHost.values())}; runs: ${N}`);
// Read the floor's result so the loop cannot be optimised away.
if (process.env.BENCH_DEBUG) console.log(`floor checksum: ${sink}`);
finish({ bench: 'scheduler-placement', metric: 'median place() of 1,000 jobs over 50 hosts', value: +value.toFixed(3), baseline: +base.toFixed(3), ratio: +(value / base).toFixed(2), target: TARGET, unit: 'ms', pass: value <= TARGET });
