// GET /v1/status: the platform at a glance (`slipway status`). Any valid token may ask: an admin
// (an admin user's admin token) sees everything; anyone else sees only the processes and builds
// of the apps they may see, and no disk or hosts (null).
import { z } from 'zod';
import { appRole, globalRole } from '../auth/roles.ts';
import { route, type AnyRoute } from '../http/route.ts';
import type { createStatus } from '../ops/status.ts';
import { components } from '../types.ts';
import type { RouteDeps } from './deps.ts';

const Bytes = z.number().int().min(0);
const Disk = z.object({
  path: z.string().describe('SLIPWAY_HOME'),
  usage: z.object({
    images: Bytes.describe('the image store: the stack and slug images'), slugs: Bytes.describe('the blobstore (slugs)'),
    buildCaches: Bytes, logs: Bytes.describe('platform logs'), git: Bytes.describe('app repositories'),
    containers: Bytes.describe("containers' upper layers and logs"), redis: Bytes.describe('the embedded Redis data'),
  }),
  filesystem: z.object({ totalBytes: Bytes, freeBytes: Bytes }),
  measuredAt: z.string(),
});
const Host = z.object({ id: z.string(), name: z.string(), address: z.string(), agent: z.string(), memory: Bytes, cpus: z.number(), jobs: z.number(), running: z.number() });
const Build = z.object({ id: z.string(), app: z.string(), state: z.string(), commit: z.string(), createdAt: z.string(), startedAt: z.string().nullable() });
export const PlatformStatus = z.object({
  alarms: z.array(z.string()).describe('conditions an operator must act on, in words (Redis above 80% of its maxmemory: at 100% every write fails)'),
  redis: z.object({ usedBytes: Bytes, maxBytes: Bytes.describe('maxmemory; 0 when none is set') }).nullable().describe('admins only'),
  disk: Disk.nullable().describe('admins only'),
  hosts: z.array(Host).nullable().describe('admins only'),
  processes: z.array(z.object({ app: z.string(), running: z.number(), pending: z.number(), crashed: z.number().describe('restarting, or exited non-zero'), other: z.number() })),
  builds: z.object({ running: z.array(Build), waiting: z.array(Build) }),
  components: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
});
components.add(PlatformStatus, { id: 'PlatformStatus' });

export function statusRoutes({ store }: RouteDeps, status: ReturnType<typeof createStatus>): AnyRoute[] {
  return [
    route({
      method: 'get', path: '/status', tag: 'status', summary: 'Disk use, hosts, processes per app, the build queue, component health (disk and hosts: admins)',
      access: { kind: 'user', role: 'view' }, response: PlatformStatus,
      async handler({ principal: p }) {
        const full = globalRole(p) === 'admin';
        const grants = full ? {} : await store.users.grants(p.userId);
        const visibleApp = (appId: string) => full || appRole(p, appId, grants[appId] ?? null) !== null;
        return status.status({ full, visibleApp });
      },
    }),
  ];
}
