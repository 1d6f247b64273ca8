// The prune filter's `until` forms (Docker's: a Go duration before now, Unix seconds, RFC 3339).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { untilMs } from '../../../../layer0/agent/image-prune.ts';

describe('image prune until', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  it('reads durations, timestamps and dates', () => {
    assert.equal(untilMs('10m', now), now - 600_000);
    assert.equal(untilMs('24h', now), now - 86_400_000);
    assert.equal(untilMs('1.5s', now), now - 1500);
    assert.equal(untilMs('1767268800', now), 1767268800_000);
    assert.equal(untilMs('2026-01-01T00:00:00Z', now), Date.parse('2026-01-01T00:00:00Z'));
  });
  it('refuses anything else', () => {
    assert.throws(() => untilMs('soon', now), /invalid until/);
  });
});
