// Reads the k8s-file logs conmon writes (`<RFC3339Nano> <stdout|stderr> <P|F> <bytes>\n`):
// a whole-file query with since/until/tail, and a follower that survives conmon's truncation
// at the size cap and stops once the container's output has ended.
import { open, stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import type { LogLine } from './types.ts';

const NL = 0x0a;

/** Parses complete lines of `buf`; returns them and the number of bytes consumed. */
export function parseLogChunk(buf: Buffer): { lines: LogLine[]; used: number } {
  const lines: LogLine[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(NL, start);
    if (nl < 0) break;
    const line = parseLogLine(buf.subarray(start, nl));
    if (line) lines.push(line);
    start = nl + 1;
  }
  return { lines, used: start };
}

export function parseLogLine(raw: Buffer): LogLine | null {
  const s1 = raw.indexOf(0x20);
  const s2 = s1 < 0 ? -1 : raw.indexOf(0x20, s1 + 1);
  const s3 = s2 < 0 ? -1 : raw.indexOf(0x20, s2 + 1);
  if (s3 < 0 && !(s2 > 0 && raw.length === s2 + 2)) return null; // an empty partial line has no trailing space
  const time = raw.subarray(0, s1).toString();
  const stream = raw.subarray(s1 + 1, s2).toString();
  if (stream !== 'stdout' && stream !== 'stderr') return null;
  const full = raw[s2 + 1] === 0x46; // 'F': the line ended with a newline
  const body = s3 < 0 ? Buffer.alloc(0) : raw.subarray(s3 + 1);
  return { time, stream, data: full ? Buffer.concat([body, Buffer.from('\n')]) : Buffer.from(body) };
}

/** conmon's timestamp → unix seconds with its fraction (nanosecond digits kept as far as a double allows). */
export function logTimeSeconds(time: string): number {
  const frac = /\.(\d+)/.exec(time)?.[1] ?? '0';
  return Date.parse(time.replace(/\.\d+/, '')) / 1000 + Number(`0.${frac}`);
}

export async function readLogFile(path: string): Promise<{ lines: LogLine[]; size: number }> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return { lines: [], size: 0 };
  }
  try {
    const buf = await fh.readFile();
    const { lines, used } = parseLogChunk(buf);
    return { lines, size: used };
  } finally {
    await fh.close();
  }
}

export async function fileSize(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

export interface FollowOptions {
  from: number;
  signal?: AbortSignal;
  /** True once the container has exited and conmon has flushed its output. */
  ended: () => boolean;
  /** Resolves when `ended` may have changed (the container exited). */
  onChange?: (notify: () => void) => () => void;
}

/** Yields lines appended after byte offset `from` until `ended()` and the file is drained. */
export async function* followLogFile(path: string, o: FollowOptions): AsyncGenerator<LogLine> {
  let offset = o.from;
  let pending = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  const notify = () => wake?.();
  let watcher: FSWatcher | null = null;
  const unsubscribe = o.onChange?.(notify);
  o.signal?.addEventListener('abort', notify);
  try {
    for (;;) {
      if (o.signal?.aborted) return;
      const wasEnded = o.ended();
      const size = await fileSize(path);
      if (size < offset) {
        offset = 0; // conmon truncated the file at its size cap
        pending = Buffer.alloc(0);
      }
      if (size > offset) {
        const fh = await open(path, 'r');
        try {
          const chunk = Buffer.alloc(Math.min(size - offset, 8 << 20));
          const { bytesRead } = await fh.read(chunk, 0, chunk.length, offset);
          offset += bytesRead;
          pending = pending.length ? Buffer.concat([pending, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
        } finally {
          await fh.close();
        }
        const { lines, used } = parseLogChunk(pending);
        pending = pending.subarray(used);
        for (const l of lines) yield l;
        continue;
      }
      if (wasEnded) return;
      if (!watcher) {
        try {
          watcher = watch(path, notify);
        } catch {
          /* not created yet: the timer below covers it */
        }
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 250).unref();
      });
      wake = null;
    }
  } finally {
    watcher?.close();
    unsubscribe?.();
    o.signal?.removeEventListener('abort', notify);
  }
}
