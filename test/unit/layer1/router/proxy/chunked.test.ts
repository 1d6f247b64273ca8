// The chunk scanner: it finds where a chunked body ends (in any split of the bytes) and refuses
// the framing tricks that smuggle requests.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkScanner } from '../../../../../layer1/router/proxy/chunked.ts';

const body = '5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n';

describe('ChunkScanner', () => {
  it('finds the end in one buffer and leaves what follows', () => {
    const s = new ChunkScanner();
    const buf = Buffer.from(body + 'GET / HTTP/1.1\r\n');
    assert.equal(s.scan(buf), body.length);
    assert.equal(s.done, true);
  });

  it('finds the same end however the bytes are split', () => {
    for (let cut = 1; cut < body.length; cut++) {
      const s = new ChunkScanner();
      const a = Buffer.from(body.slice(0, cut));
      const b = Buffer.from(body.slice(cut) + 'NEXT');
      assert.equal(s.scan(a), a.length);
      assert.equal(s.done, cut === body.length);
      assert.equal(s.scan(b), body.length - cut, `cut at ${cut}`);
      assert.equal(s.done, true);
    }
  });

  it('one byte at a time', () => {
    const s = new ChunkScanner();
    const buf = Buffer.from(body);
    for (let i = 0; i < buf.length; i++) assert.notEqual(s.scan(buf.subarray(i, i + 1)), -1);
    assert.equal(s.done, true);
  });

  it('refuses bad chunk sizes and line endings', () => {
    for (const bad of ['x\r\n', '-5\r\nhello\r\n', ' 5\r\nhello\r\n', '5 \r\nhello\r\n', '5\nhello\r\n', '5\r\nhelloX\r\n', '5\r\nhello\n0\r\n\r\n', 'fffffffffffffff\r\n', '\r\n', '0\r\n\n', '0\r\nX: 1\n\r\n', '5;a\x00\r\nhello\r\n']) {
      const s = new ChunkScanner();
      assert.equal(s.scan(Buffer.from(bad)), -1, JSON.stringify(bad));
    }
  });
});
