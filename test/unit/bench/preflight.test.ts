// The bench preflight names each missing program and how to get it (issue 12), and finds what
// is there, sbin directories included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BENCH_NEEDS, missingFor, preflight } from '../../bench/preflight.ts';

test('a missing program is reported; present ones are not', () => {
  const nope = { command: `slwnope${process.pid}`, how: 'Debian package slwnope' };
  assert.deepEqual(missingFor([nope, { command: 'sh', how: 'x' }]), [nope]);
  assert.deepEqual(missingFor([{ command: 'x', how: 'y', path: '/nonexistent/slw' }]).length, 1);
});

test('every bench has an entry, and what is installed here passes', () => {
  for (const name of ['container-start', 'scheduler-placement', 'failover', 'api-latency', 'router', 'deploy', 'logs']) assert.ok(BENCH_NEEDS[name], name);
  assert.equal(preflight('scheduler-placement'), null);
  for (const n of BENCH_NEEDS.router) assert.match(n.how, /Debian package/);
});
