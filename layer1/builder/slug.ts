// How a release refers to a built slug: image `slipway/slug:<blobId12>`, fetched by any agent that
// lacks it from its bare blobstore URL (with the agents' read token, which only agents hold: a
// release's URL alone reads nothing, and revoking the token revokes every URL) and stacked on the stack image (the scheduler's JobSpec
// image/imageUrl/imageParent; layer0/scheduler/agents.ts ensureImage imports on demand). And the
// retention set: the slugs that the last releases of each app refer to.
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../layer0/common/errors.ts';
import type { BlobClient } from '../blobstore/client.ts';
import { KEY_PREFIX } from './store.ts';
import type { BuildRecord } from './types.ts';

export const SLUG_REPO = 'slipway/slug';
export const SLUG_PARENT = 'slipway/stack:bookworm';

export interface SlugImage {
  image: string;
  imageUrl: string;
  imageParent: string;
}

/**
 * The release's image. Its URL carries no signature: an agent fetches it whenever it lacks the
 * image (a new host, a re-placement after failover, a rollback after image gc), possibly months
 * later, so it authenticates with its own credential instead (layer0/agent/fetch-auth.ts).
 */
export function slugImage(build: Pick<BuildRecord, 'id' | 'slug'>, blobs: BlobClient, o: { parent?: string } = {}): SlugImage {
  if (!build.slug) throw new SlipwayError('conflict', `build ${build.id} has no slug`);
  const { blobId } = build.slug;
  return {
    image: `${SLUG_REPO}:${blobId.slice(0, 12)}`,
    imageUrl: blobs.blobUrl(blobId),
    imageParent: o.parent ?? SLUG_PARENT,
  };
}

const BLOB_IN_URL = /\/blobs\/([0-9a-f]{64})(?:[?#]|$)/;

/** The blob ids of the slugs of the newest `perApp` releases of every app (the blobstore's gc keep set). */
export async function slugBlobsToKeep(redis: Redis, o: { prefix?: string; perApp?: number } = {}): Promise<Set<string>> {
  const prefix = o.prefix ?? KEY_PREFIX;
  const perApp = o.perApp ?? 10;
  const keep = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}app:*:releases`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      if ((await redis.type(key)) !== 'hash') continue;
      const versions = (await redis.hkeys(key)).map(Number).filter(Number.isInteger).sort((a, b) => b - a).slice(0, perApp);
      if (!versions.length) continue;
      for (const raw of await redis.hmget(key, ...versions.map(String))) {
        const url = raw ? (JSON.parse(raw) as { imageUrl?: string | null }).imageUrl : null;
        const m = url ? BLOB_IN_URL.exec(url) : null;
        if (m) keep.add(m[1]!);
      }
    }
  } while (cursor !== '0');
  return keep;
}
