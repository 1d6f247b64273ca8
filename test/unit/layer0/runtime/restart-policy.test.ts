import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKOFF_MAX_MS, BACKOFF_START_MS, nextBackoff, shouldRestart } from '../../../../layer0/runtime/restart-policy.ts';
import type { ContainerRecord, RestartPolicy } from '../../../../layer0/runtime/types.ts';

function rec(policy: RestartPolicy, state: Partial<ContainerRecord['state']> = {}, autoRemove = false): ContainerRecord {
  return {
    spec: { restartPolicy: policy, autoRemove },
    state: { restartCount: 0, stoppedByUser: false, ...state },
  } as unknown as ContainerRecord;
}

test('no never restarts; always and unless-stopped always do unless stopped by the user', () => {
  assert.equal(shouldRestart(rec({ name: 'no', maximumRetryCount: 0 }), 1), false);
  for (const name of ['always', 'unless-stopped'] as const) {
    assert.equal(shouldRestart(rec({ name, maximumRetryCount: 0 }), 0), true);
    assert.equal(shouldRestart(rec({ name, maximumRetryCount: 0 }, { stoppedByUser: true }), 0), false);
  }
});

test('on-failure restarts non-zero exits up to the retry count (0 = unlimited)', () => {
  const p = { name: 'on-failure', maximumRetryCount: 2 } as const;
  assert.equal(shouldRestart(rec(p), 0), false);
  assert.equal(shouldRestart(rec(p, { restartCount: 1 }), 3), true);
  assert.equal(shouldRestart(rec(p, { restartCount: 2 }), 3), false);
  assert.equal(shouldRestart(rec({ name: 'on-failure', maximumRetryCount: 0 }, { restartCount: 99 }), 1), true);
});

test('auto-remove containers are never restarted', () => {
  assert.equal(shouldRestart(rec({ name: 'always', maximumRetryCount: 0 }, {}, true), 1), false);
});

test('back-off doubles to a cap and resets after a long enough run', () => {
  assert.equal(nextBackoff(0, 0), BACKOFF_START_MS);
  assert.equal(nextBackoff(100, 50), 200);
  assert.equal(nextBackoff(BACKOFF_MAX_MS, 0), BACKOFF_MAX_MS);
  assert.equal(nextBackoff(6400, 20_000), BACKOFF_START_MS);
});
