// /v1/apps/:app/config: the app's config vars. PATCH sets (string) and unsets (null) names; each
// change makes a new release of the app's image with the new config and rolls it out.
import { z } from 'zod';
import { CONFIG_NAME_RE, CONFIG_VALUE_MAX_BYTES } from '../deploy/index.ts';
import { appRoute, type AnyRoute } from '../http/route.ts';
import { components } from '../types.ts';
import { AppParams, Rollout, Wait, recordKeys, settleRollout } from './deployments.ts';
import type { DeployDeps, RouteDeps } from './deps.ts';

export const ConfigVars = z.record(z.string(), z.string()).describe('name → value');
export const ConfigChanges = z
  .record(
    z.string().regex(CONFIG_NAME_RE, 'names are letters, digits and "_", not starting with a digit').refine((n) => !/^(PORT|SLIPWAY_.*)$/.test(n), 'reserved: PORT and SLIPWAY_* are set by the platform'),
    z.string().max(CONFIG_VALUE_MAX_BYTES).refine((v) => Buffer.byteLength(v) <= CONFIG_VALUE_MAX_BYTES, 'the value is over 32 KiB').nullable(),
    recordKeys,
  )
  .refine((c) => Object.keys(c).length > 0, 'no changes')
  .describe('name → new value, or null to unset; PORT and SLIPWAY_* are reserved');
components.add(ConfigChanges, { id: 'ConfigChanges' });

export function configRoutes(_: RouteDeps, d: DeployDeps): AnyRoute[] {
  return [
    appRoute({
      method: 'get', path: '/apps/:app/config', tag: 'config', summary: "The app's config vars",
      role: 'view', params: AppParams, response: ConfigVars,
      handler: ({ app }) => d.deploy.getConfig(app),
    }),
    appRoute({
      method: 'patch', path: '/apps/:app/config', tag: 'config', summary: 'Set (string) or unset (null) config vars: a new release, rolled out (202; ?wait=true: 200 when it ends)',
      role: 'deploy', params: AppParams, query: Wait, body: ConfigChanges, response: Rollout, status: 202, errors: ['invalid_params'],
      async handler({ app, body, query, principal, ctx }) {
        return settleRollout(d, app, await d.deploy.setConfig(app, body, { createdBy: principal.userName }), query.wait === 'true', ctx);
      },
    }),
  ];
}
