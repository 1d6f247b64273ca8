// A followed Redis stream as a response, for the log follow (NDJSON or Server-Sent Events) and
// the event streams (SSE): the resume id (Last-Event-ID wins over `?after=`), the head, a
// keep-alive each quiet heartbeat, back-pressure, and the caller's access checked again while it runs.
import { PassThrough } from 'node:stream';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { Lease } from '../limits.ts';
import type { Ctx } from './route.ts';
import { streamHead } from './stream.ts';

/** A Redis stream id (`1700000000000-0`): the SSE `id` of what a follow sends, and its resume point. */
export const STREAM_ID_RE = /^\d{1,20}-\d{1,20}$/;
/** How often a running follow checks that its token and access still hold. */
export const RECHECK_MS = 5000;

/** Where to resume: the Last-Event-ID header, else `after`; a header that is no stream id is a 400 (`Last-Event-ID: not <what>`). */
export function resumeId(ctx: Ctx, after: string | undefined, what: string): string | undefined {
  const header = ctx.get('Last-Event-ID').trim();
  if (!header) return after;
  if (!STREAM_ID_RE.test(header)) throw new SlipwayError('invalid_params', `Last-Event-ID: not ${what}`);
  return header;
}

/** Whether the caller asked for Server-Sent Events (`Accept: text/event-stream`). */
export const wantsSse = (ctx: Ctx) => /text\/event-stream/.test(ctx.get('Accept'));

export interface FollowOptions {
  sse: boolean;
  /** Written first (the lines before the present). */
  head?: string;
  /**
   * What follows, as text to write: null after a quiet heartbeat (a keep-alive goes out), '' when
   * nothing is to be sent this time. It ends when `signal` aborts (the client went away). Without
   * it the response is the head alone.
   */
  source?: (signal: AbortSignal) => AsyncIterable<string | null>;
  heartbeatMs: number;
  /** Whether the caller may still read; false ends the response. */
  allowed(): Promise<boolean>;
  /** The follow's slot (controller/limits.ts), released when the response ends. */
  lease?: Lease;
  onError(err: unknown): void;
}

export function follow(ctx: Ctx, o: FollowOptions): PassThrough {
  const out = new PassThrough();
  streamHead(ctx, o.sse ? 'text/event-stream' : 'application/x-ndjson');
  if (o.sse) out.write('retry: 2000\n\n');
  if (o.head) out.write(o.head);
  const source = o.source;
  if (!source) {
    o.lease?.release();
    out.end();
    return out;
  }
  // Koa writes the head with the first bytes; a follower waiting for lines should see 200 at once.
  ctx.res.once('pipe', () => ctx.res.headersSent || ctx.res.flushHeaders());
  const ac = new AbortController();
  ctx.res.once('close', () => {
    ac.abort();
    o.lease?.release();
  });
  // NDJSON too: fetch (the CLI) gives up on a body silent for 5 minutes; NDJSON readers skip blank lines.
  const keepAlive = o.sse ? ': keep-alive\n\n' : '\n';
  void (async () => {
    let checked = Date.now();
    try {
      for await (const text of source(ac.signal)) {
        if (ac.signal.aborted) break;
        if (text !== '' && !out.write(text ?? keepAlive)) {
          // Back-pressure: a slow client makes the reader wait rather than the buffer grow (or go).
          await new Promise<void>((r) => {
            out.once('drain', r);
            ac.signal.addEventListener('abort', () => r(), { once: true });
          });
        }
        if (Date.now() - checked >= Math.min(RECHECK_MS, o.heartbeatMs)) {
          checked = Date.now();
          if (!(await o.allowed())) break;
        }
      }
    } catch (err) {
      if (!ac.signal.aborted) o.onError(err);
    } finally {
      o.lease?.release();
      out.end();
    }
  })();
  return out;
}
