// Which release a rollback picks: the newest deployed before the current one, skipping failed,
// superseded and image-less releases; an explicit version must exist and have an image.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseRollbackTarget, type ReleaseSummary } from '../../../../../layer1/controller/deploy/rollback-target.ts';

const r = (version: number, status: ReleaseSummary['status'], image: string | null = 'img:1'): ReleaseSummary => ({ version, status, image });
const history = [r(1, 'deployed', null), r(2, 'deployed'), r(3, 'superseded'), r(4, 'failed'), r(5, 'deployed'), r(6, 'failed'), r(7, 'deployed')];

describe('rollback target', () => {
  it('bare: the newest release deployed before the current one', () => {
    assert.equal(chooseRollbackTarget(history, 7), 5);
    assert.equal(chooseRollbackTarget(history, 5), 2); // skips failed v4 and superseded v3
  });

  it('bare: 409 when nothing usable came before, or nothing is deployed', () => {
    assert.throws(() => chooseRollbackTarget(history, 2), { code: 'conflict' }); // v1 has no image
    assert.throws(() => chooseRollbackTarget(history, null), { code: 'conflict' });
  });

  it('explicit: any release with an image, even a failed one; 404 unknown, 409 no image or current', () => {
    assert.equal(chooseRollbackTarget(history, 7, 4), 4);
    assert.equal(chooseRollbackTarget(history, 7, 2), 2);
    assert.throws(() => chooseRollbackTarget(history, 7, 9), { code: 'not_found' });
    assert.throws(() => chooseRollbackTarget(history, 7, 1), { code: 'conflict' });
    assert.throws(() => chooseRollbackTarget(history, 7, 7), { code: 'conflict' });
  });
});
