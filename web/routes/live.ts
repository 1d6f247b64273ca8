// Live updates for the pages' script, as Server-Sent Events the browser's EventSource reads:
// the app's events (/v1/apps/:app/events) and its logs (/v1/apps/:app/logs, with the page's
// filters), both followed over loopback with the session's token and re-sent as plain
// `message` events of one shape ({kind, id, at, source, stream, text}). Without a logs API the
// log stream says so once and carries the app's events instead.
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type Router from '@koa/router';
import type { DashboardDeps } from '../app.ts';
import { appName } from '../app-data.ts';
import type { WebCtx, WebState } from '../http.ts';
import { logLine } from '../present.ts';
import { LOG_FILTERS } from './app-pages.ts';

export interface LiveLine {
  kind: 'log' | 'event' | 'notice';
  id: string;
  at: string;
  source: string;
  stream: string;
  text: string;
}

const EVENT_ID_RE = /^[0-9]{1,20}-[0-9]{1,20}$/;
/** How often an open stream checks that its session still exists (logged out elsewhere: it ends). */
const SESSION_CHECK_MS = 5000;

export function eventText(type: string, d: Record<string, unknown>): string {
  const v = (k: string) => (d[k] === undefined || d[k] === null ? '' : String(d[k]));
  switch (type) {
    case 'release.created': return `release v${v('version')} created by ${v('createdBy')}${d.reason ? `: ${v('reason')}` : ''}`;
    case 'release.failed': return `release v${v('version')} failed (${v('check')}): ${v('message')}`;
    case 'deployment.queued': return `deployment ${v('id')} queued: ${v('kind')}${d.to ? ` to v${v('to')}` : ''}`;
    case 'deployment.superseded': return `deployment ${v('id')} superseded by ${v('supersededBy')}`;
    default:
      if (type.startsWith('deployment.')) return `deployment ${v('id')} ${type.slice('deployment.'.length)}`;
      return `${type}${Object.keys(d).length ? ` ${Object.entries(d).map(([k, x]) => `${k}=${typeof x === 'string' ? x : JSON.stringify(x)}`).join(' ')}` : ''}`;
  }
}

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
  function open(ctx: WebCtx) {
    const out = new PassThrough();
    const gone = new AbortController();
    const sessionId = ctx.state.session!.id;
    const check = setInterval(() => void sessions.exists(sessionId).then((ok) => ok || end(), () => undefined), SESSION_CHECK_MS);
    check.unref();
    const end = () => {
      clearInterval(check);
      gone.abort();
      out.end();
    };
    ctx.req.once('close', end);
    ctx.res.once('close', end);
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.type = 'text/event-stream';
    ctx.set('Cache-Control', 'no-store, no-transform');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.body = out;
    out.write('retry: 3000\n\n');
    const send = (l: LiveLine) => {
      if (!out.writableEnded) out.write(`${l.id ? `id: ${l.id}\n` : ''}data: ${JSON.stringify(l)}\n\n`);
    };
    const ping = () => !out.writableEnded && out.write(': ping\n\n');
    return { out, signal: gone.signal, end, send, ping };
  }

  async function followEvents(ctx: WebCtx, app: string, s: ReturnType<typeof open>, lastId: string | undefined) {
    const res = await ctx.state.api!.stream(`/apps/${app}/events`, { accept: 'text/event-stream', headers: lastId ? { 'last-event-id': lastId } : {}, signal: s.signal });
    if ((res.statusCode ?? 500) !== 200) {
      res.resume();
      s.send({ kind: 'notice', id: '', at: new Date().toISOString(), source: 'dashboard', stream: 'system', text: `the event stream is unavailable (${res.statusCode})` });
      return;
    }
    await readSse(res, (f) => {
      if (f.comment !== undefined && !f.data) return void s.ping();
      if (!f.data) return;
      try {
        const e = JSON.parse(f.data) as { id: string; type: string; at: string; data: Record<string, unknown> };
        s.send({ kind: 'event', id: e.id, at: e.at, source: 'slipway', stream: 'event', text: eventText(e.type, e.data ?? {}) });
      } catch {
        /* a block that is not an event */
      }
    });
  }

  router.get('/apps/:app/live/events', async (ctx) => {
    const app = appName(ctx);
    const last = ctx.get('Last-Event-ID');
    const s = open(ctx);
    void followEvents(ctx, app, s, EVENT_ID_RE.test(last) ? last : undefined).catch(() => undefined).finally(s.end);
  });

  router.get('/apps/:app/live/logs', async (ctx) => {
    const app = appName(ctx);
    const query: Record<string, string> = { follow: 'true', tail: '0' };
    for (const k of LOG_FILTERS) {
      const v = ctx.query[k];
      if (typeof v === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(v)) query[k] = v;
    }
    const last = ctx.get('Last-Event-ID');
    const s = open(ctx);
    void (async () => {
      const res = await ctx.state.api!.stream(`/apps/${app}/logs`, { accept: 'text/event-stream', query, headers: last && /^[\w.:-]{1,64}$/.test(last) ? { 'last-event-id': last } : {}, signal: s.signal });
      if (res.statusCode === 404 || res.statusCode === 405 || !String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.resume();
        s.send({ kind: 'notice', id: '', at: new Date().toISOString(), source: 'dashboard', stream: 'system', text: 'This platform has no log stream yet: showing the app\'s platform events as they happen.' });
        return followEvents(ctx, app, s, undefined);
      }
      await readSse(res, (f) => {
        if (f.comment !== undefined && !f.data) return void s.ping();
        if (!f.data) return;
        try {
          const line = logLine(JSON.parse(f.data) as Record<string, unknown>);
          s.send({ kind: 'log', ...line, id: line.id || f.id || '' });
        } catch {
          /* not a log record */
        }
      });
    })().catch(() => undefined).finally(s.end);
  });
}
