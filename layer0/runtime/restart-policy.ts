// Restart policies (`no`, `on-failure[:N]`, `always`, `unless-stopped`) as a pure decision, and
// Docker's back-off: 100 ms doubling to one minute, reset after ten seconds of running.
import type { ContainerRecord } from './types.ts';

export const BACKOFF_START_MS = 100;
export const BACKOFF_MAX_MS = 60_000;
export const RESET_AFTER_MS = 10_000;

export function shouldRestart(rec: ContainerRecord, exitCode: number): boolean {
  const { name, maximumRetryCount } = rec.spec.restartPolicy;
  if (rec.state.stoppedByUser || rec.spec.autoRemove) return false;
  switch (name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return exitCode !== 0 && (maximumRetryCount === 0 || rec.state.restartCount < maximumRetryCount);
    default:
      return false;
  }
}

/** The delay before the next restart, given how long the last run lasted and the previous delay. */
export function nextBackoff(previousMs: number, ranForMs: number): number {
  if (ranForMs >= RESET_AFTER_MS || previousMs <= 0) return BACKOFF_START_MS;
  return Math.min(previousMs * 2, BACKOFF_MAX_MS);
}
