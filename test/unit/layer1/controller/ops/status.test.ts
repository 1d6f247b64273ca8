// `slipway status` counts an app's processes by state: crashed = restarting or exited non-zero.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Job } from '../../../../../layer0/scheduler/index.ts';
import { processCounts } from '../../../../../layer1/controller/ops/status.ts';

const job = (app: string | null, state: Job['state'], exitCode: number | null = null): Job => ({
  id: Math.random().toString(16).slice(2), formationId: 'f', jobName: 'web', hostId: 'h', state, reason: '', restartCount: 0, exitCode,
  ports: {}, registered: false, labels: app ? { 'slipway.app': app } : {}, createdAt: '',
});

describe('process counts', () => {
  it('groups jobs by app and state, ignoring jobs of no app', () => {
    const jobs = [job('b', 'running'), job('a', 'running'), job('a', 'pending'), job('a', 'restarting'), job('a', 'exited', 1), job('a', 'exited', 0), job('a', 'stopping'), job(null, 'running')];
    assert.deepEqual(processCounts(jobs), [
      { app: 'a', running: 1, pending: 1, crashed: 2, other: 2 },
      { app: 'b', running: 1, pending: 0, crashed: 0, other: 0 },
    ]);
  });
});
