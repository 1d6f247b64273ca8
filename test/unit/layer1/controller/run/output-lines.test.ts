// The line splitting of a container's output that run/run-to-end.ts (the release phase) and the
// builder's log (builder/run-build.ts) share (builder/lines.ts): UTF-8 whole across chunks, `\r\n`,
// a last line without newline, and the 64 KiB cap on a line that never ends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter, MAX_LINE } from '../../../../../layer1/builder/index.ts';

function split(chunks: Buffer[], max?: number): string[][] {
  const out: string[][] = [];
  const s = new LineSplitter((lines) => out.push(lines), max);
  for (const c of chunks) s.push(c);
  s.end();
  return out;
}

describe('LineSplitter', () => {
  it('keeps a multibyte character split across chunks whole', () => {
    const bytes = Buffer.from('naïve café ✓ 🚀\nnext\n', 'utf8');
    // Cut inside the é (2 bytes), inside the ✓ (3 bytes) and inside the 🚀 (4 bytes).
    const at = [bytes.indexOf(Buffer.from('é')) + 1, bytes.indexOf(Buffer.from('✓')) + 2, bytes.indexOf(Buffer.from('🚀')) + 3];
    const chunks = [bytes.subarray(0, at[0]), bytes.subarray(at[0], at[1]), bytes.subarray(at[1], at[2]), bytes.subarray(at[2])];
    assert.deepEqual(split(chunks).flat(), ['naïve café ✓ 🚀', 'next']);
  });

  it('one byte at a time gives the same lines', () => {
    const bytes = Buffer.from('ü€\r\nzwei 😀\n', 'utf8');
    assert.deepEqual(split([...bytes].map((b) => Buffer.from([b]))).flat(), ['ü€', 'zwei 😀']);
  });

  it('strips a trailing \\r, keeps empty lines, and emits a last line without newline at the end', () => {
    assert.deepEqual(split([Buffer.from('a\r\n\nb'), Buffer.from('c')]), [['a', ''], ['bc']]);
    assert.deepEqual(split([Buffer.from('x\n')]), [['x']]);
    assert.deepEqual(split([]), []);
  });

  it('cuts a line that never ends at the cap (a progress bar)', () => {
    assert.equal(MAX_LINE, 64 * 1024);
    const out = split([Buffer.from('12345'), Buffer.from('678'), Buffer.from('9\nend')], 6);
    assert.deepEqual(out, [['12345678'], ['9'], ['end']]);
  });
});
