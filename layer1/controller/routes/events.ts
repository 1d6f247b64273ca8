// Server-Sent Events of the deploy core's event streams (Redis Streams): one app's
// (`/v1/apps/:app/events`) or every app the caller may see (`/v1/events`; admins: all). Each event
// carries its stream id as the SSE `id`, so a client resumes with `Last-Event-ID` (or `?after=`);
// without either the stream starts at the present. A comment every heartbeat keeps proxies open;
// the caller's token and access are checked again while it runs (revocation ends the stream).
import type { PassThrough } from 'node:stream';
import { z } from 'zod';
import type { Redis } from 'ioredis';
import { appRole, type Principal } from '../auth/roles.ts';
import type { AppEvent } from '../deploy/index.ts';
import { AppEventSchema } from '../deploy/index.ts';
import { follow, RECHECK_MS, resumeId, STREAM_ID_RE } from '../http/follow.ts';
import { followSlots } from '../limits.ts';
import { appRoute, route, type AnyRoute, type Ctx } from '../http/route.ts';
import { components } from '../types.ts';
import { AppParams } from './deployments.ts';
import type { DeployDeps, RouteDeps } from './deps.ts';

if (!components.has(AppEventSchema)) components.add(AppEventSchema, { id: 'AppEvent' });

const Query = z.strictObject({
  after: z.string().regex(STREAM_ID_RE, 'an event id like 1700000000000-0').optional().describe('resume after this event id (the Last-Event-ID header wins)'),
});
const Stream = z.string().describe('text/event-stream: `id: <event id>`, `event: <type>`, `data: <AppEvent JSON>`');

interface Source {
  key: string;
  /** Whether an event may be sent (the /v1/events visibility filter). */
  visible?(e: AppEvent): Promise<boolean>;
  /** Whether the caller may still read the stream. */
  allowed(): Promise<boolean>;
}

export function eventRoutes({ store, log, limits, leases }: RouteDeps, d: DeployDeps): AnyRoute[] {
  const heartbeatMs = d.heartbeatMs ?? 15_000;
  const tokenValid = async (p: Principal) => (await store.tokens.get(p.tokenId)) !== null;

  /** The stream's events after `after` (else after its newest) as SSE text; null when quiet for a heartbeat. Its own connection. */
  async function* events(src: Source, after: string | undefined, signal: AbortSignal): AsyncGenerator<string | null> {
    const reader: Redis = d.deploy.store.redis.duplicate();
    reader.on('error', () => undefined);
    const onAbort = () => reader.disconnect();
    signal.addEventListener('abort', onAbort);
    try {
      let last = after ?? (await reader.xrevrange(src.key, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
      while (!signal.aborted) {
        const res = (await reader.xread('COUNT', 100, 'BLOCK', heartbeatMs, 'STREAMS', src.key, last)) as [string, [string, string[]][]][] | null;
        if (!res) {
          yield null;
          continue;
        }
        let text = '';
        for (const [id, fields] of res[0]?.[1] ?? []) {
          last = id;
          const e = toEvent(id, fields);
          if (src.visible && !(await src.visible(e))) continue;
          text += `id: ${id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
        }
        yield text;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      reader.disconnect();
    }
  }

  async function stream(ctx: Ctx, p: Principal, src: Source & { appId?: string }, after: string | undefined): Promise<PassThrough> {
    const lease = await leases.acquire(followSlots(limits, store.keys.prefix, { ...(src.appId ? { appId: src.appId } : {}), tokenId: p.tokenId }));
    return follow(ctx, {
      sse: true, heartbeatMs, allowed: src.allowed, lease,
      source: (signal) => events(src, after, signal),
      onError: (err) => log.warn({ err, key: src.key }, 'event stream failed'),
    });
  }

  return [
    appRoute({
      method: 'get', path: '/apps/:app/events', tag: 'events', summary: "The app's events as Server-Sent Events (resume with Last-Event-ID)",
      role: 'view', params: AppParams, query: Query, response: Stream, contentType: 'text/event-stream', errors: ['too_many_requests'],
      async handler({ app, query, principal: p, ctx }) {
        const after = resumeId(ctx, query.after, 'an event id like 1700000000000-0');
        return stream(ctx, p, {
          appId: app.id,
          key: d.deploy.store.key(app.id, 'events'),
          allowed: async () => (await tokenValid(p)) && (await store.apps.get(app.id)) !== null && appRole(p, app.id, await store.access.get(app.id, p.userId)) !== null,
        }, after) as never;
      },
    }),
    route({
      method: 'get', path: '/events', tag: 'events', summary: 'Events of every app the caller may see (admins: all), as Server-Sent Events',
      access: { kind: 'user', role: 'view' }, query: Query, response: Stream, contentType: 'text/event-stream', errors: ['too_many_requests'],
      async handler({ query, principal: p, ctx }) {
        const after = resumeId(ctx, query.after, 'an event id like 1700000000000-0');
        // By the app's stable id: a name may since belong to another app (renamed, or deleted and
        // reused). Events recorded before ids were kept fall back to the name.
        let ids = new Set<string>();
        let names = new Set<string>();
        let at = 0;
        const everything = p.admin && p.tokenAppId === null;
        const refresh = async () => {
          const grants = p.admin ? {} : await store.users.grants(p.userId);
          const granted = p.tokenAppId !== null ? (p.admin || grants[p.tokenAppId] ? [p.tokenAppId] : []) : Object.keys(grants);
          const apps = await Promise.all(granted.map((id) => store.apps.get(id)));
          ids = new Set(apps.flatMap((a) => (a ? [a.id] : [])));
          names = new Set(apps.flatMap((a) => (a ? [a.name] : [])));
          at = Date.now();
        };
        if (!everything) await refresh();
        return stream(ctx, p, {
          key: d.deploy.store.eventsKey,
          visible: async (e) => {
            if (everything) return true;
            const mine = () => (e.appId ? ids.has(e.appId) : names.has(e.app));
            if ((Date.now() - at > RECHECK_MS || !mine()) && Date.now() - at > 500) await refresh();
            return mine();
          },
          allowed: () => tokenValid(p),
        }, after) as never;
      },
    }),
  ];
}

function toEvent(id: string, f: string[]): AppEvent {
  const m: Record<string, string> = {};
  for (let i = 0; i + 1 < f.length; i += 2) m[f[i]!] = f[i + 1]!;
  let data: Record<string, unknown> = {};
  try {
    data = JSON.parse(m.data ?? '{}') as Record<string, unknown>;
  } catch {
    /* an unreadable payload still tells its type */
  }
  return { id, type: m.type ?? 'unknown', app: m.app ?? '', ...(m.appId ? { appId: m.appId } : {}), at: m.at ?? '', data };
}
