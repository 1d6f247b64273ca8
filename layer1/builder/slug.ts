// How a release refers to a built slug: image `slipway/slug:<blobId12>`, fetched by any agent that
// lacks it from a signed blobstore URL and stacked on the stack image (the scheduler's JobSpec
// image/imageUrl/imageParent; layer0/scheduler/agents.ts ensureImage imports on demand). And the
// retention set: the slugs that the last releases of each app refer to.
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../layer0/common/errors.ts';
import type { BlobClient } from '../blobstore/client.ts';
import { KEY_PREFIX } from './store.ts';
import type { BuildRecord } from './types.ts';

export const SLUG_REPO = 'slipway/slug';
export const SLUG_PARENT = 'slipway/stack:bookworm';
/** Builds run on the stack's build image (compilers, -dev headers); slugs run on SLUG_PARENT. */
export const BUILD_IMAGE = 'slipway/stack:bookworm-build';
/**
 * How long a slug URL in a release stays valid. An agent fetches it only when it lacks the image
 * (a new host, a rollback after image gc), so it must outlive the release's useful life; a
 * re-signed URL at rollout time would let this shrink (TODO(#6): sign in deploy/formation.ts).
 */
export const SLUG_URL_TTL_SEC = 30 * 24 * 3600;

export interface SlugImage {
  image: string;
  imageUrl: string;
  imageParent: string;
}

export function slugImage(build: Pick<BuildRecord, 'id' | 'slug'>, blobs: BlobClient, o: { ttlSec?: number; parent?: string } = {}): SlugImage {
  if (!build.slug) throw new SlipwayError('conflict', `build ${build.id} has no slug`);
  const { blobId } = build.slug;
  return {
    image: `${SLUG_REPO}:${blobId.slice(0, 12)}`,
    imageUrl: blobs.signedUrl(blobId, o.ttlSec ?? SLUG_URL_TTL_SEC),
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
