// Live updates for the pages' script, as Server-Sent Events the browser's EventSource reads:
// the app's events (/v1/apps/:app/events) and its logs (/v1/apps/:app/logs, with the page's
// filters), both followed over loopback with the session's token and re-sent as plain
// `message` events: a log line to show ({kind: 'log', id, at, source, stream, text}), or that
// the app changed ({kind: 'event', type, at}; the page re-reads itself). A refusal of the API is
// the request's error page.
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type Router from '@koa/router';
import type { DashboardDeps } from '../app.ts';
import { appName } from '../app-data.ts';
import type { WebCtx, WebState } from '../http.ts';
import { logLine, type ShownLine } from '../present.ts';
import type { AppEvent } from '../../layer1/controller/deploy/types.ts';
import { streamHead } from '../../layer1/controller/http/stream.ts';
import type { LogLine } from '../../layer1/logs/types.ts';
import { logFilters } from './app-pages.ts';

/** What the pages' script gets: a log line to show, or that the app changed. */
type LiveLine = ({ kind: 'log' } & ShownLine) | { kind: 'event'; type: string; at: string };

/** A Redis stream id: what the API's event and log streams send as `id` (and take back as `Last-Event-ID`). */
const STREAM_ID_RE = /^[0-9]{1,20}-[0-9]{1,20}$/;
/** How often an open stream checks that its session still exists (logged out elsewhere: it ends). */
const SESSION_CHECK_MS = 5000;

/** Reads SSE blocks from `res` and hands each (fields by name; comments as `comment`) to `each`. */
async function readSse(res: IncomingMessage, each: (f: Record<string, string>) => void): Promise<void> {
  let buf = '';
  res.setEncoding('utf8');
  for await (const chunk of res) {
    buf += chunk as string;
    let i;
    while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(buf[i] === '\r' ? i + 4 : i + 2);
      const f: Record<string, string> = {};
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(':')) f.comment = line.slice(1).trim();
        const at = line.indexOf(':');
        if (at <= 0) continue;
        const k = line.slice(0, at);
        const val = line.slice(at + 1).replace(/^ /, '');
        f[k] = f[k] !== undefined && k === 'data' ? `${f[k]}\n${val}` : val;
      }
      each(f);
    }
  }
}

export function liveRoutes(router: Router<WebState>, { sessions }: DashboardDeps): void {
  /**
   * Follows `path` of the API (Server-Sent Events) and re-sends each block as `each` makes it
   * (null: not sent), with its id, until the browser goes, the session ends or the API ends the
   * stream. A refusal of the API (an answer of 400 or more) is this request's error page.
   */
  async function relay(ctx: WebCtx, path: string, o: { query?: Record<string, string>; lastId?: string }, each: (data: string) => LiveLine | null) {
    const gone = new AbortController();
    const sessionId = ctx.state.session!.id;
    const check = setInterval(() => void sessions.exists(sessionId).then((ok) => ok || gone.abort(), () => undefined), SESSION_CHECK_MS);
    check.unref();
    gone.signal.addEventListener('abort', () => clearInterval(check), { once: true });
    const end = () => gone.abort();
    ctx.req.once('close', end);
    ctx.res.once('close', end);
    let res: IncomingMessage;
    try {
      res = await ctx.state.api!.stream(path, { accept: 'text/event-stream', query: o.query, headers: o.lastId ? { 'last-event-id': o.lastId } : {}, signal: gone.signal });
    } catch (err) {
      end();
      throw err;
    }
    const out = new PassThrough();
    gone.signal.addEventListener('abort', () => out.end(), { once: true });
    streamHead(ctx, 'text/event-stream');
    ctx.body = out;
    out.write('retry: 3000\n\n');
    void readSse(res, (f) => {
      if (out.writableEnded) return;
      if (f.comment !== undefined && !f.data) return void out.write(': ping\n\n');
      if (!f.data) return;
      let l: LiveLine | null;
      try {
        l = each(f.data);
      } catch {
        return; // not JSON
      }
      if (l) out.write(`${f.id ? `id: ${f.id}\n` : ''}data: ${JSON.stringify(l)}\n\n`);
    }).catch(() => undefined).finally(end);
  }

  router.get('/apps/:app/live/events', async (ctx) => {
    const app = appName(ctx);
    const last = ctx.get('Last-Event-ID');
    // The page's script only needs to know that something happened (it re-reads the page).
    await relay(ctx, `/apps/${app}/events`, { lastId: STREAM_ID_RE.test(last) ? last : undefined }, (data) => {
      const e = JSON.parse(data) as AppEvent;
      return { kind: 'event', type: e.type, at: e.at };
    });
  });

  router.get('/apps/:app/live/logs', async (ctx) => {
    const app = appName(ctx);
    // After the last line the page shows (`after`), else from now on.
    const after = typeof ctx.query.after === 'string' && STREAM_ID_RE.test(ctx.query.after) ? ctx.query.after : undefined;
    const query: Record<string, string> = { ...logFilters(ctx), follow: 'true', ...(after ? { after } : { tail: '0' }) };
    const last = ctx.get('Last-Event-ID');
    await relay(ctx, `/apps/${app}/logs`, { query, lastId: STREAM_ID_RE.test(last) ? last : undefined }, (data) => ({ kind: 'log', ...logLine(JSON.parse(data) as LogLine) }));
  });
}
