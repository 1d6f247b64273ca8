// Pure pieces of the shipper: the agent's timestamped frames (`<RFC 3339 ns> <bytes>`), the
// per-container cursor that makes a restart neither lose nor repeat a line, the assembly of
// conmon's partial frames into lines, and the split of a line over 64 KiB into parts.
import { MAX_LINE_BYTES } from './types.ts';

/** Where a container's output has been read up to: the time of the last frame and how many frames carried it. */
export interface Cursor {
  ts: string;
  n: number;
}

export const parseCursor = (s: string | null | undefined): Cursor | null => {
  const m = s ? /^(\S+) (\d+)$/.exec(s) : null;
  return m ? { ts: m[1]!, n: Number(m[2]) } : null;
};
export const formatCursor = (c: Cursor) => `${c.ts} ${c.n}`;

/** Unix seconds a little before the cursor: the agent's `since` is a double and inclusive, so exactness comes from `Position.skip`. */
export function sinceSeconds(c: Cursor | null): number {
  if (!c) return 0;
  const ms = Date.parse(c.ts.replace(/\.\d+/, ''));
  return Number.isNaN(ms) ? 0 : Math.max(0, Math.floor(ms / 1000) - 1);
}

/**
 * Tracks the frame position while reading: frames come in file order and their times never go
 * back, so (time, count at that time) names one frame. `skip` is true for frames at or before
 * the resume cursor.
 */
export class Position {
  ts = '';
  n = 0;
  constructor(private readonly resume: Cursor | null) {}
  /** Advances over a frame; true when it was already shipped before. */
  advance(ts: string): boolean {
    if (ts === this.ts) this.n++;
    else {
      this.ts = ts;
      this.n = 1;
    }
    const r = this.resume;
    if (!r) return false;
    return ts < r.ts || (ts === r.ts && this.n <= r.n);
  }
  get cursor(): Cursor {
    return { ts: this.ts, n: this.n };
  }
}

/** Splits one frame (`<time> <payload>`) — null when it has no time. */
export function splitFrame(frame: Buffer): { ts: string; payload: Buffer } | null {
  const sp = frame.indexOf(0x20);
  if (sp <= 0 || sp > 40) return null;
  return { ts: frame.toString('latin1', 0, sp), payload: frame.subarray(sp + 1) };
}

/** Cuts `buf` into pieces of at most `max` bytes without cutting a UTF-8 sequence. */
export function splitUtf8(buf: Buffer, max = MAX_LINE_BYTES): Buffer[] {
  if (buf.length <= max) return [buf];
  const parts: Buffer[] = [];
  let start = 0;
  while (buf.length - start > max) {
    let end = start + max;
    // Back off over continuation bytes (10xxxxxx) so the next part starts on a character.
    let back = 0;
    while (back < 4 && (buf[end]! & 0xc0) === 0x80) {
      end--;
      back++;
    }
    if (back === 4) end = start + max; // not UTF-8: cut anyway
    parts.push(buf.subarray(start, end));
    start = end;
  }
  parts.push(buf.subarray(start));
  return parts;
}

/** A whole line of one stream, with the cursor to store once it is shipped (null: a partial line of the other stream is still open). */
export interface AssembledLine {
  ts: string;
  stream: 'stdout' | 'stderr';
  data: Buffer;
  cursor: Cursor | null;
}

/**
 * Joins partial frames (conmon writes a long line in several frames without a newline) per
 * stream. While a stream has an open partial line, the cursor does not advance past its start,
 * so a restart reads it again from its first frame.
 */
export class LineAssembler {
  private readonly open: Record<'stdout' | 'stderr', { ts: string; parts: Buffer[]; bytes: number } | null> = { stdout: null, stderr: null };
  /** Cap on an open line's bytes: past it, the line is emitted as if it ended (its parts stay in order). */
  constructor(private readonly maxOpenBytes = 16 * MAX_LINE_BYTES) {}

  /** Feeds one frame's payload; returns the lines it completes. */
  push(stream: 'stdout' | 'stderr', ts: string, payload: Buffer, pos: Cursor): AssembledLine[] {
    const out: AssembledLine[] = [];
    const ends = payload.length > 0 && payload[payload.length - 1] === 0x0a;
    const body = ends ? payload.subarray(0, payload.length - 1) : payload;
    let cur = this.open[stream];
    if (!ends) {
      if (!cur) cur = this.open[stream] = { ts, parts: [], bytes: 0 };
      cur.parts.push(Buffer.from(body));
      cur.bytes += body.length;
      if (cur.bytes < this.maxOpenBytes) return out;
      this.open[stream] = null;
      out.push({ ts: cur.ts, stream, data: Buffer.concat(cur.parts), cursor: this.otherOpen(stream) ? null : pos });
      return out;
    }
    if (cur) {
      cur.parts.push(body);
      this.open[stream] = null;
      out.push({ ts: cur.ts, stream, data: Buffer.concat(cur.parts), cursor: this.otherOpen(stream) ? null : pos });
    } else {
      out.push({ ts, stream, data: body, cursor: this.otherOpen(stream) ? null : pos });
    }
    return out;
  }

  /** The stream ended (container stopped): open partial lines are whole lines now. */
  flush(pos: Cursor): AssembledLine[] {
    const out: AssembledLine[] = [];
    for (const s of ['stdout', 'stderr'] as const) {
      const cur = this.open[s];
      if (!cur) continue;
      this.open[s] = null;
      out.push({ ts: cur.ts, stream: s, data: Buffer.concat(cur.parts), cursor: null });
    }
    if (out.length) out[out.length - 1]!.cursor = pos;
    return out;
  }

  private otherOpen(stream: 'stdout' | 'stderr'): boolean {
    return this.open[stream === 'stdout' ? 'stderr' : 'stdout'] !== null;
  }
}
