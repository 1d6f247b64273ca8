// app.json as the push reads it (Dokku's `healthchecks` shape, one object or a list) from a pushed
// tar, and the phase clock of a push's `Done in …` line.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAppJson, readAppJson } from '../../../../../layer1/controller/push/app-json.ts';
import { PhaseClock } from '../../../../../layer1/controller/push/phases.ts';

describe('app.json', () => {
  it('takes the startup check (else the first) of each type, one object or a list', () => {
    const a = parseAppJson(JSON.stringify({
      name: 'x', scripts: {},
      healthchecks: { web: [{ type: 'liveness', path: '/live' }, { type: 'startup', path: '/up', timeout: 5, attempts: 3 }], worker: { type: 'tcp', timeout: 2 } },
    }));
    assert.deepEqual(a.healthchecks, { web: { type: 'startup', path: '/up', timeout: 5, attempts: 3 }, worker: { type: 'tcp', timeout: 2 } });
    assert.deepEqual(parseAppJson('{}').healthchecks, {});
  });

  it('says what is wrong: bad JSON, a relative path, a bad type name', () => {
    assert.throws(() => parseAppJson('{'), /app\.json is not valid JSON/);
    assert.throws(() => parseAppJson(JSON.stringify({ healthchecks: { web: { path: 'up' } } })), /healthchecks\.web/);
    assert.throws(() => parseAppJson(JSON.stringify({ healthchecks: { Web: {} } })), /healthchecks\.Web/);
  });

  it('is read from a git archive tar; none is null', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slwt-appjson-'));
    try {
      writeFileSync(join(dir, 'app.json'), JSON.stringify({ healthchecks: { web: { path: '/h', timeout: 1 } } }));
      writeFileSync(join(dir, 'other'), 'x');
      execFileSync('tar', ['-cf', join(dir, 'with.tar'), '-C', dir, 'app.json', 'other']);
      execFileSync('tar', ['-cf', join(dir, 'without.tar'), '-C', dir, 'other']);
      assert.deepEqual((await readAppJson(join(dir, 'with.tar')))?.healthchecks, { web: { path: '/h', timeout: 1 } });
      assert.equal(await readAppJson(join(dir, 'without.tar')), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('one over 256 KiB refuses the push with a clear message (not ignored)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slwt-appjson-'));
    try {
      writeFileSync(join(dir, 'app.json'), JSON.stringify({ description: 'x'.repeat(300 * 1024), healthchecks: { web: { path: '/h' } } }));
      execFileSync('tar', ['-cf', join(dir, 'big.tar'), '-C', dir, 'app.json']);
      await assert.rejects(readAppJson(join(dir, 'big.tar')), /app\.json is larger than 256 KiB[\s\S]*push again/);
      writeFileSync(join(dir, 'app.json'), JSON.stringify({ description: 'x'.repeat(200 * 1024) }));
      execFileSync('tar', ['-cf', join(dir, 'fits.tar'), '-C', dir, 'app.json']);
      assert.deepEqual((await readAppJson(join(dir, 'fits.tar')))?.healthchecks, {});
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('phase clock', () => {
  it('each mark ends a phase begun at the previous one; a second mark of a phase is ignored', async () => {
    const c = new PhaseClock();
    await new Promise((r) => setTimeout(r, 20));
    c.mark('receive');
    c.mark('build');
    c.mark('receive');
    assert.deepEqual(Object.keys(c.phases()), ['receive', 'build']);
    assert.ok(c.phases().receive! >= 0.015);
    assert.match(c.describe(), /^Done in [\d.]+ s \(receive [\d.]+ s, build [\d.]+ s\)$/);
  });
});
