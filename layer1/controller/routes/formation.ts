// /v1/apps/:app/formation: how many processes of each type run, and their memory and cpu. PATCH
// scales (type → count, or type → {count, memory: "512M", cpu: 0.5}) and rolls the change out.
import { z } from 'zod';
import { FormationEntrySchema, HealthcheckSchema, PROCESS_TYPE_RE } from '../deploy/index.ts';
import { appRoute, type AnyRoute } from '../http/route.ts';
import { components } from '../types.ts';
import { AppParams, Deployment, Wait, recordKeys, settle } from './deployments.ts';
import type { DeployDeps, RouteDeps } from './deps.ts';

const Count = z.number().int().min(0).max(100);
const Entry = FormationEntrySchema.extend({ memory: z.string().describe('like 256M or 1G') });
components.add(Entry, { id: 'FormationEntry' });
export const Formation = z.record(z.string(), Entry).describe('process type → size');

export const Scale = z
  .record(
    z.string().regex(PROCESS_TYPE_RE, 'not a process type'),
    z.union([
      Count,
      z.strictObject({
        count: Count.optional(),
        memory: z.string().max(20).optional().describe('like 512M or 1G (16M-64G)'),
        cpu: z.number().min(0).max(64).optional().describe('cores; 0 = no limit'),
        health: HealthcheckSchema.nullable().optional().describe('the type\'s health check ({type: "tcp"|"http", path, timeout (s), attempts}); wins over app.json; null: back to app.json\'s or the default'),
      }),
    ]),
    recordKeys,
  )
  .refine((s) => Object.keys(s).length > 0, 'no changes')
  .describe('process type → count, or → {count, memory, cpu, health}');
components.add(Scale, { id: 'Scale' });

export function formationRoutes(_: RouteDeps, d: DeployDeps): AnyRoute[] {
  return [
    appRoute({
      method: 'get', path: '/apps/:app/formation', tag: 'formation', summary: "Every process type of the app's release and its count, memory and cpu",
      role: 'view', params: AppParams, response: Formation,
      handler: ({ app }) => d.deploy.getFormation(app),
    }),
    appRoute({
      method: 'patch', path: '/apps/:app/formation', tag: 'formation', summary: 'Scale process types; rolled out (202; ?wait=true: 200 when it ends)',
      role: 'deploy', params: AppParams, query: Wait, body: Scale, response: z.object({ formation: Formation, deployment: Deployment.nullable() }), status: 202, errors: ['invalid_params'],
      async handler({ app, body, query, principal, ctx }) {
        const { formation, deployment } = await d.deploy.scale(app, body, { createdBy: principal.userName });
        return { formation, deployment: await settle(d, app, deployment, query.wait === 'true', ctx) };
      },
    }),
  ];
}
