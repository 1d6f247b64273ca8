// Importing any module of layer0/ or layer1/ starts no process and looks up no program (issue
// 12: runc's path resolved at import, before `slipway up` installed it, broke the first push).
// A child node imports every module with child_process and the X_OK access checks patched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
// Entry points that run when imported (they parse argv or serve): not libraries.
const ENTRY_POINTS = new Set(['layer1/cli/main.ts']);

function modules(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name).slice(ROOT.length + 1))
    .filter((f) => !ENTRY_POINTS.has(f))
    .sort();
}

test('importing every layer0/ and layer1/ module spawns nothing and resolves no binary', () => {
  const files = [...modules('layer0'), ...modules('layer1')];
  assert.ok(files.length > 100, `found ${files.length} modules`);
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/import-probe.ts'), ...files.map((f) => join(ROOT, f))], {
    cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, PATH: '/usr/bin:/bin' },
  });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { spawned: string[]; lookups: string[]; failed: { file: string; error: string }[] };
  assert.deepEqual(r.failed, [], 'every module imports');
  assert.deepEqual(r.spawned, [], 'no process started at import');
  assert.deepEqual(r.lookups, [], 'no program looked up at import');
});

test('the probe sees an import-time lookup (it can fail)', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/import-probe.ts'), join(ROOT, 'test/fixtures/import-time-lookup.ts')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { spawned: string[]; lookups: string[] };
  assert.ok(r.lookups.length > 0, 'the lookup was seen');
  assert.ok(r.spawned.some((s) => s.includes('execFileSync')), 'the spawn was seen');
});
