// Programs are looked up when first used, on a PATH that includes the sbin directories, and
// only a success is remembered: `slipway up` installs runc after the CLI has loaded (issue 12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary, pathWithSbin, which } from '../../../../layer0/common/which.ts';

test('a program that was missing is found once it appears, and then cached', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slw-which-'));
  const savedPath = process.env.PATH;
  try {
    process.env.PATH = `${dir}:${savedPath}`;
    const name = `slwprobe${process.pid}`;
    assert.equal(binary(name), name, 'missing: the bare name, so the spawn fails with ENOENT');
    assert.equal(which(name), null);
    writeFileSync(join(dir, name), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, name), 0o755);
    assert.equal(binary(name), join(dir, name), 'the failed lookup was not cached');
    rmSync(join(dir, name));
    assert.equal(binary(name), join(dir, name), 'a success is cached');
  } finally {
    process.env.PATH = savedPath;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an override (SLIPWAY_RUNC style) is looked up instead of the name', () => {
  assert.equal(binary('runc', '/opt/x/runc'), '/opt/x/runc');
  assert.equal(binary('sh', ''), which('sh'));
});

test('the sbin directories are searched whatever PATH is', () => {
  const p = pathWithSbin('/usr/bin:/bin').split(':');
  for (const d of ['/usr/local/sbin', '/usr/sbin', '/sbin']) assert.ok(p.includes(d), d);
  assert.deepEqual(pathWithSbin('/sbin:/x').split(':').slice(0, 2), ['/sbin', '/x'], 'order kept, nothing duplicated');
  assert.equal(pathWithSbin('/sbin:/x').split(':').filter((d) => d === '/sbin').length, 1);
  const dir = mkdtempSync(join(tmpdir(), 'slw-which-'));
  try {
    assert.match(which('sh', { PATH: dir }) ?? '', /^\/(usr\/)?bin\/sh$/, 'a PATH without the system dirs still finds /bin programs');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
