// Which image an API release (`POST /v1/apps/:app/releases`, `slipway deploy --image`) may run
// (issue 13, M3): only images the app owns. An image given with `imageUrl` is imported under a
// name of the app's own (`slipway/import-<app id>:<hash of the URL>`), so it can never take or
// replace another app's tag; the URL passes the URL policy (https, or http only to hosts the
// operator allows; no loopback, link-local or private address) and the agent checks it again
// when it connects, with byte caps. An image named without a URL must be one of the app's own:
// one it imported before (by the name it gave) or the image of one of its releases (its builds'
// slugs), or a stack (`slipway/stack:<name>`: the platform's base, every app's, no one's data).
// Image ids and id prefixes never resolve. Key: `app:<id>:images` (hash name → JSON).
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { SlipwayError } from '../../layer0/common/errors.ts';
import { checkUrl, parsePolicyUrl, urlPolicy } from '../../layer0/common/url-policy.ts';
import type { Deploy } from './deploy/index.ts';
import type { Store } from './store/index.ts';

export const IMPORT_REPO_PREFIX = 'slipway/import-';
/** The stacks: the only parents an API release may name (a slug over another app's image would read its files), and releasable by any app. */
const STACK_PARENT = /^slipway\/stack:[a-z0-9][a-z0-9._-]{0,127}$/;
/** An image id or id prefix (`sha256:…`, or 4+ hex digits alone): never accepted from the API. */
const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{4,64}$/i;

export interface OwnedImage {
  image: string;
  imageUrl?: string;
  imageParent?: string;
}

/** True for an image imported from a URL a tenant named (the agent applies the URL policy to it). */
export function isTenantImport(image: string): boolean {
  return image.startsWith(IMPORT_REPO_PREFIX);
}

/** The app's own name for an image imported from `url`. */
export function importedImageName(appId: string, url: string): string {
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 16);
  return `${IMPORT_REPO_PREFIX}${appId.toLowerCase()}:${hash}`;
}

const unprocessable = (m: string) => new SlipwayError('unprocessable', m);

/** https always; http only to a host the operator allows (SLIPWAY_URL_ALLOW); then the address checks. */
async function checkImageUrl(raw: string): Promise<void> {
  const policy = urlPolicy(['https', 'http']);
  const u = parsePolicyUrl(raw, policy, 'imageUrl');
  if (u.protocol === 'http:') {
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    const family = isIP(host);
    const allowed = policy.allowHosts.has(host) || (family !== 0 && policy.allow.check(host, family === 6 ? 'ipv6' : 'ipv4'));
    if (!allowed) throw unprocessable('imageUrl must use https:// (http:// only to hosts the operator allows in SLIPWAY_URL_ALLOW)');
  }
  await checkUrl(raw, policy, 'imageUrl');
}

export async function resolveReleaseImage(store: Store, deploy: Deploy, app: { id: string; name: string }, body: { image: string; imageUrl?: string; imageParent?: string }): Promise<OwnedImage> {
  if (body.imageParent !== undefined && !STACK_PARENT.test(body.imageParent)) {
    throw unprocessable(`imageParent: only a stack (slipway/stack:<name>) may be a release's parent, not ${body.imageParent}`);
  }
  const key = `${store.keys.appPrefix(app.id)}images`;
  if (body.imageUrl !== undefined) {
    await checkImageUrl(body.imageUrl);
    const owned: OwnedImage = { image: importedImageName(app.id, body.imageUrl), imageUrl: body.imageUrl, ...(body.imageParent ? { imageParent: body.imageParent } : {}) };
    await store.redis.hset(key, body.image, JSON.stringify(owned));
    return owned;
  }
  if (IMAGE_ID.test(body.image)) throw unprocessable(`image: ${body.image} looks like an image id; a release names one of the app's images (or gives imageUrl)`);
  if (STACK_PARENT.test(body.image)) return { image: body.image, ...(body.imageParent ? { imageParent: body.imageParent } : {}) };
  const known = await store.redis.hget(key, body.image);
  if (known) return JSON.parse(known) as OwnedImage;
  for (let after: string | undefined, pages = 0; pages < 20; pages++) {
    const page = await deploy.listReleases(app, { limit: 100, after });
    const hit = page.items.find((r) => r.image === body.image);
    if (hit) return { image: hit.image!, ...(hit.imageUrl ? { imageUrl: hit.imageUrl } : {}), ...(hit.imageParent ? { imageParent: hit.imageParent } : {}) };
    if (!page.next) break;
    after = page.next;
  }
  throw unprocessable(`image: ${body.image} is not an image of ${app.name}: give imageUrl to import it, or name the image of one of ${app.name}'s releases`);
}
