// Which release a rollback goes to (pure): the one asked for, or the newest release deployed
// before the current one; failed, superseded and never-run releases are skipped by a bare rollback.
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { ReleaseStatus } from './types.ts';

export interface ReleaseSummary {
  version: number;
  status: ReleaseStatus;
  image: string | null;
}

/** `releases` in any order; `current` the version running now (null: none). Throws 404/409. */
export function chooseRollbackTarget(releases: ReleaseSummary[], current: number | null, requested?: number): number {
  if (requested !== undefined) {
    const r = releases.find((x) => x.version === requested);
    if (!r) throw new SlipwayError('not_found', `no release v${requested}`);
    if (!r.image) throw new SlipwayError('conflict', `v${requested} has no image to run (it was made by a config change before any image)`);
    if (requested === current) throw new SlipwayError('conflict', `v${requested} is the current release`);
    return requested;
  }
  if (current === null) throw new SlipwayError('conflict', 'no release is deployed, so there is nothing to roll back from');
  const target = releases
    .filter((r) => r.version < current && r.status === 'deployed' && r.image)
    .sort((a, b) => b.version - a.version)[0];
  if (!target) throw new SlipwayError('conflict', `no release deployed before v${current} to roll back to`);
  return target.version;
}
