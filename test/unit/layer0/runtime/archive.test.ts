import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resolveInRoot, statInRoot } from '../../../../layer0/runtime/archive.ts';

const root = mkdtempSync(join(tmpdir(), 'slwt-arch-'));
after(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, 'etc'));
writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
symlinkSync('/etc', join(root, 'abs'));
symlinkSync('../../../../../etc', join(root, 'rel'));
symlinkSync('loop2', join(root, 'loop1'));
symlinkSync('loop1', join(root, 'loop2'));

test('absolute and climbing symlinks stay inside the root', async () => {
  assert.equal(await resolveInRoot(root, '/abs/passwd'), join(root, 'etc', 'passwd'));
  assert.equal(await resolveInRoot(root, 'rel/passwd'), join(root, 'etc', 'passwd'));
  assert.equal(await resolveInRoot(root, '/../../etc/passwd'), join(root, 'etc', 'passwd'));
});

test('the last component is followed only when asked', async () => {
  assert.equal(await resolveInRoot(root, '/abs'), join(root, 'abs'));
  assert.equal(await resolveInRoot(root, '/abs', true), join(root, 'etc'));
  assert.equal((await statInRoot(root, '/abs')).linkTarget, '/etc');
});

test('symlink loops and missing paths are client errors', async () => {
  await assert.rejects(resolveInRoot(root, '/loop1/x'), { code: 'invalid_params' });
  await assert.rejects(statInRoot(root, '/nope'), { code: 'not_found' });
});
