// An app's logs (`GET /v1/apps/:app/logs`: tail, since, follow and filters, as Server-Sent Events
// when asked for `text/event-stream`, else NDJSON), its retention settings, its drains and its
// metrics. Everything is read from Redis through layer1/logs' client; the shipper writes it.
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { timeOrDurationMs } from '../../../layer0/common/time.ts';
import { LogsClient, LogLineSchema, LogSettingsSchema, DrainSchema, LOG_SOURCES, psFilter, redactUrl, type LogFilter, type LogLine } from '../../logs/index.ts';
import { appRole } from '../auth/roles.ts';
import { follow, resumeId, STREAM_ID_RE, wantsSse } from '../http/follow.ts';
import { appRoute, type AnyRoute } from '../http/route.ts';
import { followSlots } from '../limits.ts';
import { components } from '../types.ts';
import { AppParams } from './deployments.ts';
import type { RouteDeps } from './deps.ts';

if (!components.has(LogLineSchema)) components.add(LogLineSchema, { id: 'LogLine' });

/** How long a quiet follow waits before a keep-alive (an SSE comment, a blank NDJSON line) and an access re-check. */
const HEARTBEAT_MS = 15_000;

/** `2026-01-01T00:00:00Z`, unix seconds, or a duration before now (`30s`, `10m`, `2h`, `1d`). */
export function parseSince(v: string, now = Date.now()): number | null {
  return timeOrDurationMs(v, { unix: /^\d{9,11}(\.\d+)?$/, now });
}

const Since = z.string().refine((v) => parseSince(v) !== null, 'a time (RFC 3339 or unix seconds) or a duration like 10m, 2h, 1d');
const Bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const LogsQuery = z.strictObject({
  tail: z.coerce.number().int().min(0).max(100_000).optional().describe('lines before the present (default 100; with follow and no tail: 100 as well); the newest lines up to SLIPWAY_LOG_TAIL_MAX_BYTES (8 MiB) of messages, header Slipway-Tail-Truncated when cut'),
  since: Since.optional().describe('only lines from this time on: RFC 3339, unix seconds, or a duration before now (10m)'),
  follow: Bool.optional().describe('keep the response open and send new lines as they come'),
  type: z.string().max(64).optional().describe('process type (web)'),
  process: z.string().max(64).optional().describe('process (web.1)'),
  ps: z.string().max(64).optional().describe('web (a type) or web.1 (a process)'),
  release: z.string().max(16).optional().describe('v7'),
  stream: z.enum(['stdout', 'stderr']).optional(),
  source: z.enum(LOG_SOURCES).optional().describe('app (processes), router (access lines) or platform (deploys, crashes, OOM kills, scaling)'),
  after: z.string().regex(STREAM_ID_RE).optional().describe('follow from this line id (Last-Event-ID wins)'),
});

const LogsBody = z.string().describe('application/x-ndjson: one LogLine per line (a follow sends a blank line when quiet); text/event-stream (Accept): `id: <line id>`, `event: log`, `data: <LogLine>`');

const SettingsBody = LogSettingsSchema.partial().strict().refine((s) => Object.keys(s).length > 0, 'give maxLines, maxAgeSec and/or maxBytes');
const DrainBody = z.strictObject({ url: z.string().min(1).max(2048).describe('syslog://host:port (RFC 5424 over TCP) or https://… (POSTed NDJSON batches)') });
const DrainView = DrainSchema.extend({ url: z.string().describe('credentials in the URL are shown as ***') });
const DrainParams = z.strictObject({ app: AppParams.shape.app, id: z.string().regex(/^[a-z0-9_]{1,64}$/, 'a drain id like drn_0123456789ab') });

const MetricsQuery = z.strictObject({ since: Since.optional().describe('window start (default 15m)') });
const MetricsBody = z.object({
  since: z.string(),
  processes: z.array(z.object({
    id: z.string(), type: z.string(), process: z.string(), release: z.string(), host: z.string(), status: z.string(), startedAt: z.string(),
    cpuPercent: z.number(), memoryBytes: z.number(), memoryLimit: z.number(), restarts: z.number(),
    history: z.array(z.array(z.number())).describe('[time ms, cpu %, memory bytes], oldest first'),
  })),
  router: z.object({
    requests: z.number(), rate: z.number(), classes: z.record(z.string(), z.number()),
    latencyMs: z.object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable(), mean: z.number().nullable() }),
    history: z.array(z.array(z.number())).describe('[time ms, requests] per sample, oldest first'),
  }),
}).describe('Per process: CPU, memory, restarts (sampled by the agents every few seconds, kept an hour); per app: the router\'s counters');
if (!components.has(MetricsBody)) components.add(MetricsBody, { id: 'AppMetrics' });

export function logRoutes(deps: RouteDeps, o: { heartbeatMs?: number } = {}): AnyRoute[] {
  const { store, log, limits, leases } = deps;
  const heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS;
  const logs = new LogsClient(store.redis, store.keys.prefix);

  /** New lines after `last`, as text; null when quiet for a heartbeat. */
  async function* followText(appId: string, last: string, filter: LogFilter, signal: AbortSignal, sse: boolean): AsyncGenerator<string | null> {
    for await (const batch of logs.follow(appId, last, { ...filter, signal, blockMs: heartbeatMs })) yield batch.length ? text(sse, batch) : null;
  }
  const text = (sse: boolean, ls: LogLine[]) => {
    // One write per batch of lines: a write per line is a chunk (and a syscall) per line.
    let s = '';
    for (const l of ls) s += sse ? `id: ${l.id}\nevent: log\ndata: ${JSON.stringify(l)}\n\n` : `${JSON.stringify(l)}\n`;
    return s;
  };

  return [
    appRoute({
      method: 'get', path: '/apps/:app/logs', tag: 'logs', summary: "The app's log lines: the last `tail`, then new ones with `follow` (NDJSON, or Server-Sent Events)",
      role: 'view', params: AppParams, query: LogsQuery, response: LogsBody, contentType: 'application/x-ndjson', errors: ['too_many_requests'],
      async handler({ app, query: q, principal: p, ctx }) {
        const filter: LogFilter = {
          ...psFilter(q.ps), ...(q.type ? { type: q.type } : {}), ...(q.process ? { process: q.process } : {}),
          ...(q.release ? { release: q.release } : {}), ...(q.stream ? { stream: q.stream } : {}), ...(q.source ? { source: q.source } : {}),
        };
        const resume = resumeId(ctx, q.after, 'a line id');
        const sinceMs = q.since ? parseSince(q.since)! : undefined;
        // Each follow holds a Redis connection: counted per app and per token (429 beyond).
        const lease = q.follow ? await leases.acquire(followSlots(limits, store.keys.prefix, { appId: app.id, tokenId: p.tokenId })) : undefined;
        const { lines, last, truncated } = resume
          ? { lines: [], last: resume, truncated: false }
          : await logs.read(app.id, { ...filter, tail: q.tail ?? 100, maxBytes: limits.tailBytes, ...(sinceMs !== undefined ? { sinceMs } : {}) }).catch((err: unknown) => {
            lease?.release();
            throw err;
          });
        // The tail stopped at SLIPWAY_LOG_TAIL_MAX_BYTES before `tail` lines (the newest are kept).
        if (truncated) ctx.set('Slipway-Tail-Truncated', String(limits.tailBytes));
        const allowed = async () => (await store.tokens.get(p.tokenId)) !== null && (await store.apps.get(app.id)) !== null && appRole(p, app.id, await store.access.get(app.id, p.userId)) !== null;
        const sse = wantsSse(ctx);
        return follow(ctx, {
          sse, head: text(sse, lines), heartbeatMs, allowed, ...(lease ? { lease } : {}),
          onError: (err) => log.warn({ err, app: app.id }, 'log follow failed'),
          ...(q.follow ? { source: (signal: AbortSignal) => followText(app.id, last, filter, signal, sse) } : {}),
        }) as never;
      },
    }),
    appRoute({
      method: 'get', path: '/apps/:app/log-settings', tag: 'logs', summary: 'Log retention: lines, age and bytes kept',
      role: 'view', params: AppParams, response: LogSettingsSchema,
      handler: async ({ app }) => logs.settings(app.id),
    }),
    appRoute({
      method: 'patch', path: '/apps/:app/log-settings', tag: 'logs', summary: "Sets log retention (maxLines, maxAgeSec, maxBytes); older lines go at once; beyond the operator's caps is 422",
      role: 'owner', params: AppParams, body: SettingsBody, response: LogSettingsSchema, errors: ['unprocessable'],
      handler: async ({ app, body }) => logs.setSettings(app.id, body),
    }),
    appRoute({
      method: 'get', path: '/apps/:app/drains', tag: 'logs', summary: "The app's log drains",
      role: 'owner', params: AppParams, response: z.object({ items: z.array(DrainView) }),
      handler: async ({ app }) => ({ items: (await logs.listDrains(app.id)).map((d) => ({ ...d, url: redactUrl(d.url) })) }),
    }),
    appRoute({
      method: 'post', path: '/apps/:app/drains', tag: 'logs', summary: 'Adds a log drain (syslog://host:port or https://…); it gets lines from now on. Loopback, link-local and private addresses are refused (422) unless the operator allows them (SLIPWAY_URL_ALLOW)',
      role: 'owner', params: AppParams, body: DrainBody, response: DrainView, status: 201, errors: ['conflict', 'unprocessable'],
      handler: async ({ app, body, principal }) => {
        const d = await logs.addDrain(app.id, body.url, principal.userName);
        return { ...d, url: redactUrl(d.url) };
      },
    }),
    appRoute({
      method: 'delete', path: '/apps/:app/drains/:id', tag: 'logs', summary: 'Removes a log drain',
      role: 'owner', params: DrainParams, response: null, status: 204, errors: ['not_found'],
      handler: async ({ app, params }) => {
        if (!(await logs.removeDrain(app.id, params.id))) throw new SlipwayError('not_found', `no drain ${params.id}`);
      },
    }),
    appRoute({
      method: 'get', path: '/apps/:app/metrics', tag: 'logs', summary: 'CPU, memory and restarts per process, and the router\'s requests, status classes and latency percentiles',
      role: 'view', params: AppParams, query: MetricsQuery, response: MetricsBody,
      handler: async ({ app, query }) => logs.metrics(app.id, query.since ? parseSince(query.since)! : Date.now() - 15 * 60_000),
    }),
  ];
}
