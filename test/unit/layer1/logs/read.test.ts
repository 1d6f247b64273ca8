// LogsClient.read over an in-memory stream: a line written between reading the last id and the
// backward scan is left to the follow (after `last`), so a follow never shows it twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Redis } from 'ioredis';
import { LogsClient } from '../../../../layer1/logs/client.ts';

type Row = [string, string[]];
const cmp = (a: string, b: string) => {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
};

/** XREVRANGE key end start COUNT n over `rows` (ids ascending); `(id` is exclusive. Calls `afterFirst` once after the first call. */
function fakeRedis(rows: Row[], afterFirst: () => void): Redis {
  let calls = 0;
  return {
    async xrevrange(_key: string, end: string, start: string, _c: string, n: number): Promise<Row[]> {
      const hi = (id: string) => end === '+' || (end.startsWith('(') ? cmp(id, end.slice(1)) < 0 : cmp(id, end) <= 0);
      const lo = (id: string) => start === '-' || cmp(id, start) >= 0;
      const out = rows.filter(([id]) => hi(id) && lo(id)).reverse().slice(0, n);
      if (calls++ === 0) afterFirst();
      return out;
    },
  } as unknown as Redis;
}

test('read: a line written after the last id was read is not among the lines (the follow brings it)', async () => {
  const rows: Row[] = [1, 2, 3].map((i) => [`100${i}-0`, ['src', 'app', 'msg', `line ${i}`]]);
  const client = new LogsClient(fakeRedis(rows, () => rows.push(['1004-0', ['src', 'app', 'msg', 'line 4']])));
  const { lines, last } = await client.read('app1', { tail: 10 });
  assert.equal(last, '1003-0');
  assert.deepEqual(lines.map((l) => l.message), ['line 1', 'line 2', 'line 3']);
});
