// The keyed work queue every reconcile loop shares: de-duplication, one in flight per key,
// re-run of a key added while it runs, per-key exponential back-off with a cap, requeue
// after, resync, concurrency across keys, close. Driven by a fake clock: no sleeps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkQueue } from '../../../../layer0/common/workqueue.ts';
import { FakeClock, settle } from '../../../helpers/fake-clock.ts';

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

test('a key added many times while queued runs once; different keys run in order', async () => {
  const seen: string[] = [];
  const busy = gate();
  const q = new WorkQueue<string>({ clock: new FakeClock(), reconcile: async (k) => { seen.push(k); if (k === 'x') await busy.p; } });
  q.add('x'); // holds the only worker, so the adds below wait in the queue
  q.add('a'); q.add('b'); q.add('a'); q.add('a');
  assert.equal(q.size, 3);
  busy.open();
  await q.idle();
  assert.deepEqual(seen, ['x', 'a', 'b']);
  q.close();
});

test('one reconcile per key at a time; a key added while it runs runs once more after', async () => {
  const g = gate();
  let running = 0, maxRunning = 0, runs = 0;
  const q = new WorkQueue<string>({
    clock: new FakeClock(),
    concurrency: 4,
    reconcile: async () => {
      runs++; running++; maxRunning = Math.max(maxRunning, running);
      if (runs === 1) await g.p;
      running--;
    },
  });
  q.add('k');
  await settle();
  q.add('k'); q.add('k'); q.add('k');
  await settle();
  assert.equal(runs, 1, 'no second run while the first is in flight');
  g.open();
  await q.idle();
  assert.equal(runs, 2, 'the adds during the run collapse into one more run');
  assert.equal(maxRunning, 1);
  q.close();
});

test('different keys run side by side up to the concurrency', async () => {
  const gates = new Map<string, ReturnType<typeof gate>>();
  let running = 0, maxRunning = 0;
  const q = new WorkQueue<string>({
    clock: new FakeClock(),
    concurrency: 2,
    reconcile: async (k) => {
      running++; maxRunning = Math.max(maxRunning, running);
      const g = gate(); gates.set(k, g); await g.p;
      running--;
    },
  });
  for (const k of ['a', 'b', 'c']) q.add(k);
  await settle();
  assert.equal(running, 2);
  assert.deepEqual([...gates.keys()], ['a', 'b']);
  gates.get('a')!.open();
  await settle();
  assert.deepEqual([...gates.keys()], ['a', 'b', 'c']);
  gates.get('b')!.open(); gates.get('c')!.open();
  await q.idle();
  assert.equal(maxRunning, 2);
  q.close();
});

test('failures back off per key, doubling up to the cap, and success resets it', async () => {
  const clock = new FakeClock();
  const times: number[] = [];
  let failUntil = 6;
  const delays: number[] = [];
  const q = new WorkQueue<string>({
    clock,
    backoff: { baseMs: 100, maxMs: 1000 },
    onError: (_k, _e, _n, ms) => delays.push(ms),
    reconcile: async (k) => {
      if (k !== 'bad') return;
      times.push(clock.now());
      if (times.length <= failUntil) throw new Error('boom');
    },
  });
  q.add('bad'); q.add('good');
  await clock.advance(10_000);
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  assert.deepEqual(times, [0, 100, 300, 700, 1500, 2500, 3500]);
  assert.equal(q.failuresOf('bad'), 0, 'success forgets the failures');
  failUntil = 8; // fail once more: back-off starts again from the base
  q.add('bad');
  await clock.advance(10_000);
  assert.equal(delays.at(-1), 100);
  q.close();
});

test('a key added during its failing run waits out the back-off instead of hammering', async () => {
  const clock = new FakeClock();
  let runs = 0;
  const g = gate();
  const q = new WorkQueue<string>({
    clock,
    backoff: { baseMs: 500, maxMs: 500 },
    reconcile: async () => {
      runs++;
      if (runs === 1) { await g.p; throw new Error('boom'); }
    },
  });
  q.add('k');
  await settle();
  q.add('k');
  g.open();
  await clock.advance(499);
  assert.equal(runs, 1);
  await clock.advance(1);
  assert.equal(runs, 2);
  q.close();
});

test('requeueAfterMs looks again later; an add before then runs now and replaces it', async () => {
  const clock = new FakeClock();
  const at: number[] = [];
  const q = new WorkQueue<string>({
    clock,
    reconcile: async () => {
      at.push(clock.now());
      return at.length === 1 ? { requeueAfterMs: 1000 } : undefined;
    },
  });
  q.add('k');
  await clock.advance(1500);
  assert.deepEqual(at, [0, 1000]);
  const q2 = new WorkQueue<string>({ clock, reconcile: async () => { at.push(clock.now()); return { requeueAfterMs: 1000 }; } });
  at.length = 0;
  q2.add('k');
  await clock.advance(200);
  q2.add('k');
  await settle();
  assert.deepEqual(at, [1500, 1700]);
  q.close(); q2.close();
  assert.equal(clock.pending, 0, 'close cancels delayed adds');
});

test('resync re-adds every key on its period; an abort signal stops everything', async () => {
  const clock = new FakeClock();
  const seen: string[] = [];
  const ac = new AbortController();
  const q = new WorkQueue<string>({
    clock,
    signal: ac.signal,
    resync: { everyMs: 1000, keys: () => ['x', 'y'] },
    reconcile: async (k) => void seen.push(`${clock.now()}:${k}`),
  });
  await clock.advance(2500);
  assert.deepEqual(seen, ['1000:x', '1000:y', '2000:x', '2000:y']);
  ac.abort();
  assert.equal(q.closed, true);
  q.add('z');
  await clock.advance(5000);
  assert.equal(seen.length, 4);
  assert.equal(clock.pending, 0);
});
