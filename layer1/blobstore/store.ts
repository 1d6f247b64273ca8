// Content-addressed files on disk: `<dir>/<id[0..2]>/<id>`, where id = sha256 of the content.
// A put streams into `<dir>/tmp/` while hashing, then renames into place once the hash is known
// (and matches the caller's, when given), so a reader never sees a partial blob. Called by the
// blob server, the builder (slugs) and the controller's retention (gc).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../../layer0/common/errors.ts';
import { BLOB_ID_RE, checkBlobId, type BlobId, type BlobInfo, type GcResult, type PutResult } from './types.ts';

export interface PutOptions {
  /** The expected sha256: a mismatch is `invalid_params` and nothing is stored. */
  sha256?: string;
  /** Refuse uploads above this many bytes (`payload_too_large`). */
  maxBytes?: number;
}

export interface GetOptions {
  /** Inclusive byte range. */
  start?: number;
  end?: number;
}

/** Temp files older than this are left-overs of a crashed put and removed at open. */
const STALE_TMP_MS = 60 * 60_000;
/** Default gc grace: a blob younger than this is never collected (a slug built, not yet released). */
export const DEFAULT_GC_GRACE_MS = 60 * 60_000;

/** Hashes and counts what passes through; fails past `maxBytes`. */
class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  constructor(private readonly maxBytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) return cb(new SlipwayError('payload_too_large', `blob larger than ${this.maxBytes} bytes`));
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

export class BlobStore {
  readonly tmpDir: string;

  private constructor(readonly dir: string) {
    this.tmpDir = join(dir, 'tmp');
  }

  /** Opens (creating) a store under `dir` (`$SLIPWAY_HOME/blobs`) and drops stale temp files. */
  static async open(dir: string): Promise<BlobStore> {
    const s = new BlobStore(dir);
    await mkdir(s.tmpDir, { recursive: true, mode: 0o700 });
    const now = Date.now();
    for (const name of await readdir(s.tmpDir)) {
      const p = join(s.tmpDir, name);
      const st = await stat(p).catch(() => null);
      if (st && now - st.mtimeMs > STALE_TMP_MS) await rm(p, { force: true });
    }
    return s;
  }

  pathOf(id: string): string {
    checkBlobId(id);
    return join(this.dir, id.slice(0, 2), id);
  }

  /** Streams `input` into the store; resolves with its id once it is durable under that id. */
  async put(input: Readable | AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<PutResult> {
    if (opts.sha256 !== undefined) checkBlobId(opts.sha256);
    const tmp = join(this.tmpDir, `put-${randomBytes(8).toString('hex')}`);
    const hasher = new Hasher(opts.maxBytes ?? Number.MAX_SAFE_INTEGER);
    try {
      await pipeline(input, hasher, createWriteStream(tmp, { flags: 'wx', mode: 0o600, flush: true }));
      const id = hasher.hash.digest('hex');
      if (opts.sha256 !== undefined && opts.sha256 !== id) {
        throw new SlipwayError('invalid_params', `sha256 mismatch: expected ${opts.sha256}, content is ${id}`);
      }
      const dest = this.pathOf(id);
      const existing = await stat(dest).catch(() => null);
      if (existing) {
        // Same content already stored: keep it, but refresh its age (gc's grace period).
        await unlink(tmp);
        const now = new Date();
        await utimes(dest, now, now).catch(() => undefined);
        return { id, size: hasher.size, created: false };
      }
      await mkdir(join(this.dir, id.slice(0, 2)), { recursive: true, mode: 0o700 });
      await rename(tmp, dest);
      return { id, size: hasher.size, created: true };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async stat(id: string): Promise<BlobInfo | null> {
    const st = await stat(this.pathOf(id)).catch(() => null);
    return st && st.isFile() ? { id, size: st.size, mtimeMs: st.mtimeMs } : null;
  }

  async has(id: string): Promise<boolean> {
    return (await this.stat(id)) !== null;
  }

  /** A stream of the blob (or of a byte range); `not_found` when it is not stored. */
  async get(id: string, range: GetOptions = {}): Promise<ReadStream> {
    const path = this.pathOf(id);
    const stream = createReadStream(path, range);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new SlipwayError('not_found', `no blob ${id}`) : err));
    });
    return stream;
  }

  /** True when it was there. */
  async delete(id: string): Promise<boolean> {
    try {
      await unlink(this.pathOf(id));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Every stored blob (walks the shard dirs; ignores anything that is not a blob). */
  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const shard of await readdir(this.dir)) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of await readdir(join(this.dir, shard)).catch(() => [] as string[])) {
        if (!BLOB_ID_RE.test(name) || !name.startsWith(shard)) continue;
        const info = await this.stat(name);
        if (info) out.push(info);
      }
    }
    return out;
  }

  async usage(): Promise<{ blobs: number; bytes: number }> {
    const all = await this.list();
    return { blobs: all.length, bytes: all.reduce((n, b) => n + b.size, 0) };
  }

  /**
   * Deletes every blob not in `keep` and older than `graceMs` (so a blob being built into a
   * release is safe). The controller's keep set is the slugs of the last 10 releases of each app.
   */
  async gc(opts: { keep: Set<BlobId>; graceMs?: number; now?: number }): Promise<GcResult> {
    const grace = opts.graceMs ?? DEFAULT_GC_GRACE_MS;
    const now = opts.now ?? Date.now();
    const result: GcResult = { deleted: [], freedBytes: 0, kept: 0 };
    for (const b of await this.list()) {
      if (opts.keep.has(b.id) || now - b.mtimeMs < grace) {
        result.kept++;
        continue;
      }
      if (await this.delete(b.id)) {
        result.deleted.push(b.id);
        result.freedBytes += b.size;
      }
    }
    return result;
  }
}
