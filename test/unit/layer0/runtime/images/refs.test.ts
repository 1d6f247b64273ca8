// Reference parsing and normalisation, Docker's way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fullIdHex, idPrefixHex, normalizeRef, parseRef, tryNormalizeRef } from '../../../../../layer0/runtime/images/refs.ts';

test('a missing tag becomes latest; Docker Hub prefixes are dropped', () => {
  assert.equal(normalizeRef('busybox'), 'busybox:latest');
  assert.equal(normalizeRef('busybox:1.36'), 'busybox:1.36');
  assert.equal(normalizeRef('docker.io/library/x:tag'), 'x:tag');
  assert.equal(normalizeRef('index.docker.io/library/x'), 'x:latest');
  assert.equal(normalizeRef('library/x:1'), 'x:1');
  assert.equal(normalizeRef('docker.io/someone/x'), 'someone/x:latest');
  assert.equal(normalizeRef('slipway/stack:bookworm'), 'slipway/stack:bookworm');
  assert.equal(normalizeRef('localhost:5000/a/b'), 'localhost:5000/a/b:latest');
  assert.equal(normalizeRef('registry.example:5000/a:v1.2-rc_3'), 'registry.example:5000/a:v1.2-rc_3');
  assert.deepEqual(parseRef('a.b/c__d-e.f:t'), { name: 'a.b/c__d-e.f', tag: 't' });
});

test('invalid references are invalid_params', () => {
  for (const bad of ['', 'UPPER', 'a:', 'a:-x', 'a b', 'a/', '/a', 'a//b', 'a@sha256:' + '0'.repeat(64), 'a:' + 'x'.repeat(129), '-a']) {
    assert.throws(() => normalizeRef(bad), (e: { code?: string }) => e.code === 'invalid_params', bad);
    assert.equal(tryNormalizeRef(bad), null);
  }
});

test('ids and id prefixes', () => {
  const hex = 'ab'.repeat(32);
  assert.equal(fullIdHex(hex), hex);
  assert.equal(fullIdHex(`sha256:${hex}`), hex);
  assert.equal(fullIdHex(hex.slice(1)), null);
  assert.equal(idPrefixHex('abcd'), 'abcd');
  assert.equal(idPrefixHex('sha256:abcd'), 'abcd');
  assert.equal(idPrefixHex('abc'), null);
  assert.equal(idPrefixHex('busybox'), null);
});
