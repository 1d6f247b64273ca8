// How a release refers to a built slug: image `slipway/slug:<blobId12>`, fetched by any agent that
// lacks it from its bare blobstore URL (with the agents' read token, which only agents hold: a
// release's URL alone reads nothing, and revoking the token revokes every URL) and stacked on the stack image (the scheduler's JobSpec
// image/imageUrl/imageParent; layer0/scheduler/agents.ts ensureImage imports on demand). And the
// retention set: the slugs that the last releases of each app refer to.
import { Transform, type TransformCallback } from 'node:stream';
import { createGunzip, type Gunzip } from 'node:zlib';
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../layer0/common/errors.ts';
import { envBytes, formatBytes } from '../../layer0/common/settings.ts';
import type { BlobClient } from '../blobstore/client.ts';
import { KEY_PREFIX } from './store.ts';
import type { BuildRecord } from './types.ts';

export const SLUG_REPO = 'slipway/slug';
export const SLUG_PARENT = 'slipway/stack:bookworm';
/** Builds run on the stack's build image (compilers, -dev headers); slugs run on SLUG_PARENT. */
export const BUILD_IMAGE = 'slipway/stack:bookworm-build';

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

/** How large a slug may be: as stored (gzip), and unpacked (what an agent writes to disk). */
export interface SlugLimits {
  /** SLIPWAY_SLUG_MAX_BYTES (default 1 GiB). */
  maxBytes: number;
  /** SLIPWAY_SLUG_MAX_UNPACKED_BYTES (default 4 GiB). */
  maxUnpackedBytes: number;
}

export function slugLimits(env: NodeJS.ProcessEnv = process.env): SlugLimits {
  return {
    maxBytes: envBytes(env, 'SLIPWAY_SLUG_MAX_BYTES', 2 ** 30, { min: 1024 * 1024 }),
    maxUnpackedBytes: envBytes(env, 'SLIPWAY_SLUG_MAX_UNPACKED_BYTES', 4 * 2 ** 30, { min: 1024 * 1024 }),
  };
}

/**
 * Passes a slug (`slug.tgz`) through unchanged while counting its bytes and, through a gunzip
 * beside it, the bytes it unpacks to: past either limit it fails with `payload_too_large` at
 * that point (a gzip bomb is stopped at the limit, never unpacked to its end); a slug that is
 * not gzip fails too. `unpacked` is the count so far.
 */
export class SlugMeter extends Transform {
  bytes = 0;
  unpacked = 0;
  private readonly gunzip: Gunzip;
  private failed: Error | null = null;

  constructor(private readonly limits: SlugLimits) {
    super();
    this.gunzip = createGunzip();
    this.gunzip.on('data', (c: Buffer) => {
      this.unpacked += c.length;
      if (this.unpacked > this.limits.maxUnpackedBytes) {
        this.fail(new SlipwayError('payload_too_large', `the slug unpacks to more than ${formatBytes(this.limits.maxUnpackedBytes)} (the platform's SLIPWAY_SLUG_MAX_UNPACKED_BYTES): make the app smaller (.slugignore, fewer dependencies)`));
      }
    });
    this.gunzip.on('error', (err: Error) => this.fail(new SlipwayError('invalid_params', `the slug is not a gzip tarball: ${err.message}`)));
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.gunzip.destroy();
    this.destroy(err);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.failed) return cb(this.failed);
    this.bytes += chunk.length;
    if (this.bytes > this.limits.maxBytes) {
      return cb(new SlipwayError('payload_too_large', `the slug is larger than ${formatBytes(this.limits.maxBytes)} (the platform's SLIPWAY_SLUG_MAX_BYTES): make the app smaller (.slugignore, fewer dependencies)`));
    }
    // Waits for the gunzip to take it, so unpacking keeps pace with the stream (and its count is current).
    if (this.gunzip.write(chunk)) cb(null, chunk);
    else this.gunzip.once('drain', () => cb(this.failed, this.failed ? undefined : chunk));
  }

  override _flush(cb: TransformCallback): void {
    if (this.failed) return cb(this.failed);
    this.gunzip.once('end', () => cb(this.failed));
    this.gunzip.end();
    this.gunzip.resume();
  }
}
