// The shipper's pure pieces: the resume cursor, partial-frame assembly, the 64 KiB split on UTF-8
// boundaries, syslog framing, latency percentiles from the router's histogram, `since` parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineAssembler, Position, parseCursor, formatCursor, sinceSeconds, splitFrame, splitUtf8 } from '../../../../layer1/logs/lines.ts';
import { syslogFrame, drainKind } from '../../../../layer1/logs/drains.ts';
import { percentile } from '../../../../layer1/logs/client.ts';
import { parseSince } from '../../../../layer1/controller/routes/logs.ts';
import { describeAppEvent, describeContainerEvent } from '../../../../layer1/logs/platform-lines.ts';

const T1 = '2026-01-01T10:00:00.000000001Z';
const T2 = '2026-01-01T10:00:00.000000002Z';
const T3 = '2026-01-01T10:00:01.000000000Z';

test('a position skips exactly the frames up to the cursor, equal times counted', () => {
  const p = new Position({ ts: T2, n: 2 });
  assert.deepEqual([T1, T2, T2, T2, T3].map((t) => p.advance(t)), [true, true, true, false, false]);
  assert.deepEqual(p.cursor, { ts: T3, n: 1 });
  const fresh = new Position(null);
  assert.equal(fresh.advance(T1), false);
  assert.deepEqual(parseCursor(formatCursor({ ts: T2, n: 7 })), { ts: T2, n: 7 });
  assert.equal(parseCursor('garbage'), null);
  assert.equal(sinceSeconds(null), 0);
  assert.equal(sinceSeconds({ ts: T3, n: 1 }), Date.parse('2026-01-01T10:00:01Z') / 1000 - 1);
});

test('frames split into time and payload', () => {
  assert.deepEqual(splitFrame(Buffer.from(`${T1} hello\n`)), { ts: T1, payload: Buffer.from('hello\n') });
  assert.equal(splitFrame(Buffer.from('nospace')), null);
});

test('partial frames join into one line; the cursor waits while the other stream has an open line', () => {
  const a = new LineAssembler();
  const pos = (n: number) => ({ ts: T1, n });
  assert.deepEqual(a.push('stdout', T1, Buffer.from('par'), pos(1)), []);
  const err = a.push('stderr', T1, Buffer.from('oops\n'), pos(2));
  assert.equal(err.length, 1);
  assert.equal(err[0]!.cursor, null, 'stdout still has an open line before this frame');
  const done = a.push('stdout', T2, Buffer.from('tial\n'), pos(3));
  assert.equal(done[0]!.data.toString(), 'partial');
  assert.equal(done[0]!.ts, T1);
  assert.deepEqual(done[0]!.cursor, pos(3));
  a.push('stdout', T3, Buffer.from('no newline at the end'), pos(4));
  const flushed = a.flush(pos(4));
  assert.equal(flushed[0]!.data.toString(), 'no newline at the end');
  assert.deepEqual(flushed[0]!.cursor, pos(4));
});

test('a long line splits at 64 KiB without cutting a UTF-8 character', () => {
  const parts = splitUtf8(Buffer.from('é'.repeat(40_000))); // 80,000 bytes, 2 each
  assert.equal(parts.length, 2);
  assert.ok(parts.every((p) => p.length <= 65536));
  assert.equal(parts.map((p) => p.toString()).join(''), 'é'.repeat(40_000));
  assert.ok(!parts[1]!.toString().startsWith('\uFFFD'));
  assert.equal(splitUtf8(Buffer.from('short')).length, 1);
  assert.equal(splitUtf8(Buffer.alloc(65536 * 2 + 1, 0x61)).length, 3);
});

test('syslog frames are RFC 5424 with octet counting', () => {
  const f = syslogFrame({ id: '1-0', time: '2026-01-01T10:00:00.123456789Z', source: 'app', process: 'web.1', stream: 'stderr', message: 'héllo' }, 'myapp');
  const [len, ...rest] = f.split(' ');
  const msg = rest.join(' ');
  assert.equal(Number(len), Buffer.byteLength(msg));
  assert.equal(msg, '<11>1 2026-01-01T10:00:00.123456Z myapp app web.1 - - héllo');
  assert.equal(drainKind('syslog://127.0.0.1:514'), 'syslog');
  assert.equal(drainKind('https://logs.example.com/x'), 'http');
  assert.equal(drainKind('syslog://nohostport'), null);
  assert.equal(drainKind('ftp://x'), null);
});

test('percentiles interpolate inside the histogram buckets', () => {
  const b = new Array(12).fill(0);
  b[0] = 90; // ≤ 5 ms
  b[3] = 10; // 25–50 ms
  assert.equal(percentile(b, 0.5), 2.8);
  assert.ok(percentile(b, 0.95)! > 25 && percentile(b, 0.95)! <= 50);
  assert.equal(percentile(new Array(12).fill(0), 0.5), null);
});

test('since: durations, unix seconds and times', () => {
  const now = 1_000_000_000_000;
  assert.equal(parseSince('10m', now), now - 600_000);
  assert.equal(parseSince('1d', now), now - 86_400_000);
  assert.equal(parseSince('1700000000', now), 1_700_000_000_000);
  assert.equal(parseSince('2026-01-01T00:00:00Z', now), Date.parse('2026-01-01T00:00:00Z'));
  assert.equal(parseSince('soon', now), null);
});

test('platform lines say what happened', () => {
  const t = { id: 'abcdef0123456789', appId: 'a', type: 'web', process: 'web.2', release: 'v3' };
  assert.match(describeContainerEvent('die', { exitCode: '3' }, t, false)!.message, /web\.2 .*crashed with exit code 3/);
  assert.equal(describeContainerEvent('die', { exitCode: '143' }, t, true)!.event, 'stopped');
  assert.equal(describeContainerEvent('oom', {}, t, false)!.event, 'oom');
  assert.equal(describeContainerEvent('create', {}, t, false), null);
  assert.match(describeAppEvent('release.created', { version: 4, createdBy: 'ann' })!.message, /release v4 created by ann/);
  assert.equal(describeAppEvent('build.started', { id: 'b1' })!.event, 'build');
});
