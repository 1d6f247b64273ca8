import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logTimeSeconds, parseLogChunk, parseLogLine } from '../../../../layer0/runtime/log-file.ts';

test('full and partial k8s-file lines', () => {
  const full = parseLogLine(Buffer.from('2026-11-27T21:14:32.705990317+00:00 stdout F hello world'))!;
  assert.equal(full.stream, 'stdout');
  assert.equal(full.data.toString(), 'hello world\n');
  const partial = parseLogLine(Buffer.from('2026-11-27T21:14:32.705990317+00:00 stderr P no newline'))!;
  assert.equal(partial.stream, 'stderr');
  assert.equal(partial.data.toString(), 'no newline');
  const empty = parseLogLine(Buffer.from('2026-11-27T21:14:32.705990317+00:00 stdout F '))!;
  assert.equal(empty.data.toString(), '\n');
  assert.equal(parseLogLine(Buffer.from('garbage')), null);
});

test('a chunk yields only complete lines and says how much it used', () => {
  const text = '2026-11-27T21:14:32.1+00:00 stdout F a\n2026-11-27T21:14:32.2+00:00 stdout F b\n2026-11-27T21:14:3';
  const { lines, used } = parseLogChunk(Buffer.from(text));
  assert.deepEqual(lines.map((l) => l.data.toString()), ['a\n', 'b\n']);
  assert.equal(text.slice(used), '2026-11-27T21:14:3');
});

test('timestamps keep their sub-millisecond fraction', () => {
  const a = logTimeSeconds('2026-11-27T21:14:32.705990317+00:00');
  const b = logTimeSeconds('2026-11-27T21:14:32.705990999+00:00');
  assert.ok(b > a);
  assert.ok(Math.abs(a - Date.parse('2026-11-27T21:14:32.706Z') / 1000) < 0.001);
});
