// The one "time or duration" parser: each caller's forms (the prune's `until`, the logs API's
// `since`, the CLI's `--age`) and what it refuses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationMs, timeOrDurationMs } from '../../../../layer0/common/time.ts';

test('durations: units chosen by the caller, a bare number only with `bare`, whole numbers with `integer`', () => {
  assert.equal(durationMs('1.5h'), 5_400_000);
  assert.equal(durationMs('250ms'), 250);
  assert.equal(durationMs('2d'), 172_800_000);
  assert.equal(durationMs('2d', { units: ['ms', 's', 'm', 'h'] }), null);
  assert.equal(durationMs('90'), null);
  assert.equal(durationMs('90', { bare: 's' }), 90_000);
  const age = { units: ['s', 'm', 'h', 'd'] as const, bare: 's' as const, integer: true };
  assert.equal(durationMs('7d', age), 604_800_000);
  assert.equal(durationMs('1.5h', age), null);
  assert.equal(durationMs('10ms', age), null);
  assert.equal(durationMs('soon', age), null);
});

test('a time or a duration before now', () => {
  const now = 1_800_000_000_000;
  assert.equal(timeOrDurationMs('10m', { now }), now - 600_000);
  assert.equal(timeOrDurationMs('1767268800', { now }), 1_767_268_800_000);
  assert.equal(timeOrDurationMs('2026-01-01T00:00:00Z', { now }), Date.parse('2026-01-01T00:00:00Z'));
  assert.equal(timeOrDurationMs('soon', { now }), null);
  // The logs API reads only 9 to 11 digits as Unix seconds.
  assert.equal(timeOrDurationMs('17672688000000', { unix: /^\d{9,11}(\.\d+)?$/, now }), null);
});
