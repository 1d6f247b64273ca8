// The state file round-trips and is replaced atomically; the host lock serialises callers.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadState, saveState, withHostLock } from '../../../../layer0/network/state.ts';

describe('network state', () => {
  it('starts empty, round-trips and leaves no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slwnet-'));
    try {
      assert.deepEqual(loadState(join(dir, 'sub')), { subnet: null, attachments: {} });
      await saveState(join(dir, 'sub'), { subnet: '172.31.3.0/24', attachments: {} });
      assert.equal(loadState(join(dir, 'sub')).subnet, '172.31.3.0/24');
      assert.deepEqual(await readdir(join(dir, 'sub')), ['network.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs lock holders one at a time and breaks a dead holder\'s lock', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slwnet-'));
    const lock = join(dir, 'lock');
    try {
      const order: string[] = [];
      const job = (n: string) => withHostLock(async () => {
        order.push(`${n}+`);
        await new Promise((r) => setTimeout(r, 20));
        order.push(`${n}-`);
      }, lock);
      await Promise.all([job('a'), job('b')]);
      assert.deepEqual(order, ['a+', 'a-', 'b+', 'b-']);
      await writeFile(lock, '999999999');
      assert.equal(await withHostLock(async () => 'ok', lock, 2000), 'ok');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
