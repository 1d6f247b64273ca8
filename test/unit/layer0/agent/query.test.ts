// Moby's query rules: booleans, both filter shapes, unix times, label matching, globs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boolParam, globToRegExp, intParam, matchLabels, parseFilters, unixTimeNanoParam } from '../../../../layer0/agent/query.ts';

const q = (s: string) => new URLSearchParams(s);

test('booleans follow Moby: "", 0, no, false, none are false; anything else true', () => {
  for (const v of ['', '0', 'no', 'FALSE', 'none']) assert.equal(boolParam(q(`a=${v}`), 'a', true), false, v);
  for (const v of ['1', 'true', 'yes', 'x']) assert.equal(boolParam(q(`a=${v}`), 'a'), true, v);
  assert.equal(boolParam(q(''), 'a', true), true);
});

test('integers refuse garbage with a 400', () => {
  assert.equal(intParam(q('t=5'), 't'), 5);
  assert.equal(intParam(q(''), 't', 10), 10);
  assert.throws(() => intParam(q('t=abc'), 't'), (e: { status?: number }) => e.status === 400);
});

test('filters accept both JSON shapes', () => {
  assert.deepEqual([...parseFilters('{"label":["a=b"]}')], [['label', ['a=b']]]);
  assert.deepEqual([...parseFilters('{"label":{"a=b":true,"c":false}}')], [['label', ['a=b']]]);
  assert.equal(parseFilters(null).size, 0);
  assert.throws(() => parseFilters('{bad'), (e: { status?: number }) => e.status === 400);
});

test('unix times keep nanoseconds', () => {
  assert.equal(unixTimeNanoParam(q('since=1700000000.5'), 'since'), 1700000000500000000n);
  assert.equal(unixTimeNanoParam(q('since=1700000000'), 'since'), 1700000000000000000n);
});

test('labels and globs', () => {
  assert.ok(matchLabels(['a=b', 'c'], { a: 'b', c: '' }));
  assert.ok(!matchLabels(['a=x'], { a: 'b' }));
  assert.ok(globToRegExp('busy*').test('busybox'));
  assert.ok(!globToRegExp('busy*').test('busy/box'));
  assert.ok(globToRegExp('bb:1.?').test('bb:1.2'));
});
