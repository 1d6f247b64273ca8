// /v1/apps/:app/releases (immutable, numbered v1, v2, …), a release from an image (like
// `deis pull`), rollback (a new release with an old one's image and config), and builds (made by
// git push through layer1/builder, read from its store under the same key prefix).
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { BuildRecordSchema, BuildStore } from '../../builder/index.ts';
import { NewReleaseSchema } from '../deploy/index.ts';
import { appRoute, type AnyRoute } from '../http/route.ts';
import { resolveReleaseImage } from '../release-images.ts';
import { Page, components, listOf } from '../types.ts';
import { AppParams, Release, Rollout, Wait, settleRollout, showRelease } from './deployments.ts';
import type { DeployDeps, RouteDeps } from './deps.ts';

const Version = z.string().regex(/^v?\d{1,9}$/, 'a release version like 7 or v7');
export const NewRelease = NewReleaseSchema.omit({ createdBy: true, build: true }).extend({
  imageUrl: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }).max(2000).optional().describe('where a host fetches the image tar (https; http only to hosts the operator allows; no private addresses); the image is imported under a name of the app\'s own'),
}).describe("one of the app's images (imported before, or of one of its releases), or a tar fetched from imageUrl; and its process types");
components.add(NewRelease, { id: 'NewRelease' });
export const RollbackBody = z.strictObject({
  version: z.union([z.number().int().min(1), Version]).optional().describe('7 or "v7"; none: the release deployed before the current one'),
});
const Build = BuildRecordSchema.describe('a build: the commit built, its state, slug, process types and buildpacks');
components.add(Build, { id: 'Build' });
const BuildWithLog = BuildRecordSchema.extend({ log: z.array(z.string()).describe('the build output, line by line') });

export function releaseRoutes(r: RouteDeps, d: DeployDeps): AnyRoute[] {
  const builds = new BuildStore(r.store.redis, r.store.keys.prefix);
  return [
    appRoute({
      method: 'get', path: '/apps/:app/releases', tag: 'releases', summary: "The app's releases, newest first",
      role: 'view', params: AppParams, query: Page.extend({ after: z.string().regex(/^\d{1,9}$/, 'not a release cursor').optional() }), response: listOf(Release),
      handler: async ({ app, query }) => {
        const page = await d.deploy.listReleases(app, query);
        return { ...page, items: page.items.map(showRelease) };
      },
    }),
    appRoute({
      method: 'get', path: '/apps/:app/releases/:version', tag: 'releases', summary: 'One release (7 or v7)',
      role: 'view', params: AppParams.extend({ version: Version }), response: Release, errors: ['not_found'],
      handler: async ({ app, params }) => showRelease(await d.deploy.getRelease(app, params.version)),
    }),
    appRoute({
      method: 'post', path: '/apps/:app/releases', tag: 'releases', summary: "A release from one of the app's images or an image tar at imageUrl (422 otherwise), rolled out (?wait=true: answers when the rollout ends)",
      role: 'deploy', params: AppParams, query: Wait, body: NewRelease, response: Rollout, status: 201, errors: ['invalid_params', 'unprocessable'],
      async handler({ app, body, query, principal, ctx }) {
        const { imageUrl: _u, imageParent: _p, ...rest } = body;
        const owned = await resolveReleaseImage(r.store, d.deploy, app, body);
        const release = { ...rest, ...owned, reason: body.reason ?? `Deploy ${body.image}`, createdBy: principal.userName };
        return settleRollout(d, app, await d.deploy.createRelease(app, release), query.wait === 'true', ctx, 201);
      },
    }),
    appRoute({
      method: 'post', path: '/apps/:app/rollback', tag: 'releases', summary: "A new release with an earlier one's image, Procfile and config, rolled out",
      role: 'deploy', params: AppParams, query: Wait, body: RollbackBody, response: Rollout, status: 201, errors: ['not_found', 'conflict'],
      async handler({ app, body, query, principal, ctx }) {
        return settleRollout(d, app, await d.deploy.rollback(app, body.version, { createdBy: principal.userName }), query.wait === 'true', ctx, 201);
      },
    }),
    appRoute({
      method: 'get', path: '/apps/:app/builds', tag: 'builds', summary: "The app's builds (made by git push), newest first",
      role: 'view', params: AppParams, query: Page, response: listOf(Build),
      handler: ({ app, query }) => builds.list(app.id, query),
    }),
    appRoute({
      method: 'get', path: '/apps/:app/builds/:id', tag: 'builds', summary: 'One build',
      role: 'view', params: AppParams.extend({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'not a build id') }), response: BuildWithLog, errors: ['not_found'],
      async handler({ app, params }) {
        const build = await builds.get(app.id, params.id);
        if (!build) throw new SlipwayError('not_found', `no build ${params.id}`);
        const log: string[] = [];
        for (let after = '0'; ;) {
          const page = await builds.readLog(app.id, params.id, { after, count: 5000 });
          log.push(...page.lines.map((l) => l.line));
          if (page.ended || !page.lines.length) break;
          after = page.last;
        }
        return { ...build, log };
      },
    }),
  ];
}
