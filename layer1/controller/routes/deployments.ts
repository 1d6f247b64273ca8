// /v1/apps/:app/deployments: the rollouts of an app (newest first) and one by id. Also the wire
// schemas of releases and deployments the other deploy routes answer with, and `settle()`, which
// makes a mutating route wait for its rollout when asked (`?wait=true`).
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { DeploymentSchema, FailureSchema, ReleaseSchema, type Deployment, type Release as ReleaseRecord } from '../deploy/index.ts';
import { appRoute, type AnyRoute, type Ctx } from '../http/route.ts';
import { AppName, Page, components, listOf, type App } from '../types.ts';
import type { DeployDeps, RouteDeps } from './deps.ts';

for (const [id, s] of [['Failure', FailureSchema], ['Release', ReleaseSchema], ['Deployment', DeploymentSchema]] as const) {
  if (!components.has(s)) components.add(s, { id });
}
export { ReleaseSchema as Release, DeploymentSchema as Deployment };

export const AppParams = z.strictObject({ app: AppName });
export const Wait = z.strictObject({
  wait: z.enum(['true', 'false']).optional().describe('true: answer when the rollout has ended (200), with its final state; else at once (202)'),
});
/** For `z.record(key, value, recordKeys)`: a bad key reports its own schema's message (zod's default says only "Invalid key in record"). */
export const recordKeys = {
  error: (iss: { code?: string; issues?: { message?: string }[] }) => (iss.code === 'invalid_key' ? (iss.issues?.[0]?.message ?? 'not a valid name') : undefined),
};

/**
 * A release as the API shows it: its imageUrl without the query string (a slug URL's signature, or
 * a pre-signed URL's credentials) nor user info, so no one who read it keeps a way to fetch the
 * image after their access is gone (L5); the platform's processes get the URL from the record.
 */
export function showRelease<T extends { imageUrl: string | null }>(r: T): T {
  if (!r.imageUrl) return r;
  try {
    const u = new URL(r.imageUrl);
    return { ...r, imageUrl: `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}` };
  } catch {
    return { ...r, imageUrl: null };
  }
}

/** What a change answers: the release it made (null when none) and its rollout (null when there is nothing to run). */
export const Rollout = z.object({ release: ReleaseSchema.nullable(), deployment: DeploymentSchema.nullable() });

/**
 * With `?wait=true`, waits for the rollout (following the ones that superseded it) and answers 200
 * with its final state; otherwise (or when the wait runs out) answers `accepted` with it as it is.
 */
/** `settle`, then the release as it is now (its status follows the rollout it was waited on). */
export async function settleRollout(d: DeployDeps, app: App, r: { release: ReleaseRecord | null; deployment: Deployment | null }, wait: boolean, ctx: Ctx, accepted = 202) {
  const deployment = await settle(d, app, r.deployment, wait, ctx, accepted);
  const release = r.release && wait ? await d.deploy.getRelease(app, r.release.version).catch(() => r.release) : r.release;
  return { release: release && showRelease(release), deployment };
}

export async function settle(d: DeployDeps, app: App, dep: Deployment | null, wait: boolean, ctx: Ctx, accepted = 202): Promise<Deployment | null> {
  if (!wait || !dep) {
    ctx.state.status = accepted;
    return dep;
  }
  const gone = new AbortController();
  const onClose = () => gone.abort();
  ctx.res.once('close', onClose);
  try {
    const end = await d.deploy.waitForDeployment(app, dep.id, { timeoutMs: d.waitMs ?? 600_000, signal: gone.signal });
    ctx.state.status = accepted === 201 ? 201 : 200;
    return end;
  } catch (err) {
    // The wait ran out, or the client left: answer with the rollout as it is now.
    if (!gone.signal.aborted && !(err instanceof SlipwayError && err.code === 'unavailable')) throw err;
    ctx.state.status = accepted;
    return d.deploy.getDeployment(app, dep.id);
  } finally {
    ctx.res.off('close', onClose);
  }
}

export function deploymentRoutes(_: RouteDeps, d: DeployDeps): AnyRoute[] {
  return [
    appRoute({
      method: 'get', path: '/apps/:app/deployments', tag: 'deployments', summary: "The app's rollouts, newest first, with their state, log and failure",
      role: 'view', params: AppParams, query: Page.extend({ after: z.string().regex(/^\d{1,12}$/, 'not a deployment cursor').optional() }), response: listOf(DeploymentSchema),
      handler: ({ app, query }) => d.deploy.listDeployments(app, query),
    }),
    appRoute({
      method: 'get', path: '/apps/:app/deployments/:id', tag: 'deployments', summary: 'One rollout',
      role: 'view', params: AppParams.extend({ id: z.string().regex(/^\d{1,12}$/, 'a deployment id is a number') }), response: DeploymentSchema, errors: ['not_found'],
      handler: ({ app, params }) => d.deploy.getDeployment(app, params.id),
    }),
  ];
}
