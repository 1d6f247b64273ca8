// Config validation (names, sizes, reserved names, clear messages), memory sizes and scale requests.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyConfigChanges, applyScale, formatMemory, parseMemory, validateConfigChanges } from '../../../../../layer1/controller/deploy/config.ts';

const rejects = (v: unknown, re: RegExp) => assert.throws(() => validateConfigChanges(v), (e: Error & { code?: string }) => e.code === 'invalid_params' && re.test(e.message));

describe('config validation', () => {
  it('accepts names like FOO, _x, a1_B and values up to 32 KiB, null to unset', () => {
    const ok = { FOO: 'bar', _x: '', a1_B: 'x'.repeat(32 * 1024), GONE: null };
    assert.deepEqual(validateConfigChanges(ok), ok);
  });

  it('refuses bad names, reserved names, non-strings and big values, naming each', () => {
    rejects({ '1ABC': 'x' }, /"1ABC": names are letters/);
    rejects({ 'A-B': 'x' }, /"A-B"/);
    rejects({ '': 'x' }, /names are/);
    rejects({ PORT: '80' }, /PORT: reserved/);
    rejects({ SLIPWAY_APP: 'x' }, /SLIPWAY_APP: reserved/);
    rejects({ A: 1 }, /A: the value must be a string/);
    rejects({ A: { b: 1 } }, /A: the value must be a string/);
    rejects({ BIG: 'x'.repeat(32 * 1024 + 1) }, /BIG: the value is over 32 KiB/);
    rejects({ BIG: 'é'.repeat(16 * 1024 + 1) }, /over 32 KiB/); // bytes, not characters
    rejects({}, /no changes/);
    rejects(null, /expected an object/);
    rejects(['A'], /expected an object/);
    rejects({ PORT: '1', 'x y': '2' }, /PORT: reserved.*"x y"/);
  });

  it('applies changes: set, overwrite, unset', () => {
    assert.deepEqual(applyConfigChanges({ A: '1', B: '2' }, { A: '3', B: null, C: '4' }), { A: '3', C: '4' });
  });
});

describe('formation sizes', () => {
  it('parses memory in binary units and prints it back', () => {
    assert.equal(parseMemory('512M'), 512 * 1024 ** 2);
    assert.equal(parseMemory('1G'), 1024 ** 3);
    assert.equal(parseMemory('1.5G'), 1.5 * 1024 ** 3);
    assert.equal(parseMemory('256MB'), 256 * 1024 ** 2);
    assert.equal(parseMemory('64Mi'), 64 * 1024 ** 2);
    assert.equal(formatMemory(512 * 1024 ** 2), '512M');
    assert.equal(formatMemory(2 * 1024 ** 3), '2G');
    assert.throws(() => parseMemory('lots'), /not a size/);
    assert.throws(() => parseMemory('1M'), /between 16M and 64G/);
    assert.throws(() => parseMemory('1T'), /between 16M and 64G/);
  });

  it('merges counts and sizes over the current formation; defaults web to 1', () => {
    assert.deepEqual(applyScale({}, { web: 3 }), { web: { count: 3, memory: '256M', cpu: 0 } });
    assert.deepEqual(applyScale({ web: { count: 2, memory: '128M', cpu: 0 } }, { web: { memory: '1024M', cpu: 0.5 } }), { web: { count: 2, memory: '1G', cpu: 0.5 } });
    assert.deepEqual(applyScale({}, { worker: { memory: '512M' } }), { worker: { count: 0, memory: '512M', cpu: 0 } });
  });

  it('a health check per type through the API: set, kept by later scales, null removes it', () => {
    const set = applyScale({ web: { count: 2, memory: '256M', cpu: 0 } }, { web: { health: { path: '/up', timeout: 5 } } });
    assert.deepEqual(set, { web: { count: 2, memory: '256M', cpu: 0, health: { path: '/up', timeout: 5 } } });
    assert.deepEqual(applyScale(set, { web: 3 }).web!.health, { path: '/up', timeout: 5 });
    assert.equal(applyScale(set, { web: { health: null } }).web!.health, undefined);
    assert.throws(() => applyScale({}, { web: { health: { path: 'no-slash' } } }), /invalid_params|path/);
  });

  it('refuses counts outside 0-100, bad types and unknown fields', () => {
    for (const bad of [{ web: -1 }, { web: 101 }, { web: 1.5 }, { web: '2' }, { Web: 1 }, { web: { count: 1, disk: 1 } }, {}, { web: { memory: '2K' } }]) {
      assert.throws(() => applyScale({}, bad), (e: Error & { code?: string }) => e.code === 'invalid_params', JSON.stringify(bad));
    }
  });
});
