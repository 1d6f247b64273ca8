// /v1/audit: the admin reads the log of mutating calls, newest first, optionally for one app.
import { z } from 'zod';
import { route, type AnyRoute } from '../http/route.ts';
import { AppName, AuditEntry, Page, listOf } from '../types.ts';
import type { RouteDeps } from './deps.ts';

const AuditQuery = Page.extend({
  after: z.string().regex(/^\d{1,20}-\d{1,20}$/, 'must be the `next` cursor of a previous page').optional(),
  app: AppName.optional().describe('only calls on this app (by its name at the time)'),
});

export function auditRoutes({ store }: RouteDeps): AnyRoute[] {
  return [
    route({
      method: 'get', path: '/audit', tag: 'audit', summary: 'The audit log of mutating calls, newest first (admin)',
      access: { kind: 'user', role: 'admin' }, query: AuditQuery, response: listOf(AuditEntry),
      handler: ({ query }) => store.audit.list(query.limit, query.after, query.app),
    }),
  ];
}
