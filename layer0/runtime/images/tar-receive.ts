// Receives an uploaded layer (plain tar or gzip) into a temp file in one pass: decompresses,
// hashes the uncompressed tar (the layer digest) and checks every entry with node-tar's parser
// against tar-rules.ts. Called by the image store before GNU tar extracts the file.
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { SlipwayError } from '../../common/errors.ts';
import { TarEntryChecker } from './tar-rules.ts';

export interface ReceivedTar {
  /** The uncompressed tar, in the caller's temp dir; the caller removes it. */
  path: string;
  /** `sha256:<hex>` of the uncompressed tar. */
  digest: string;
  /** Bytes of the uncompressed tar. */
  size: number;
}

const MAGIC: Array<[string, Buffer]> = [
  ['bzip2', Buffer.from('BZh')],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
];
const GZIP = Buffer.from([0x1f, 0x8b]);
const SNIFF_BYTES = 6;

/** Passes a plain tar through and gunzips a gzip one, deciding on the first bytes. */
class Decompress extends Transform {
  private head: Buffer[] = [];
  private headLen = 0;
  private mode: 'sniff' | 'plain' | 'gzip' = 'sniff';
  private gunzip: Gunzip | null = null;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.mode === 'sniff') {
      this.head.push(chunk);
      this.headLen += chunk.length;
      if (this.headLen < SNIFF_BYTES) return cb();
      return this.decide(Buffer.concat(this.head), cb);
    }
    this.forward(chunk, cb);
  }

  override _flush(cb: TransformCallback): void {
    const finish = (err?: Error | null) => {
      if (err) return cb(err);
      if (!this.gunzip) return cb();
      this.gunzip.once('end', () => cb());
      this.gunzip.end();
    };
    if (this.mode === 'sniff') this.decide(Buffer.concat(this.head), finish);
    else finish();
  }

  private decide(head: Buffer, cb: TransformCallback): void {
    this.head = [];
    for (const [name, magic] of MAGIC) {
      if (head.subarray(0, magic.length).equals(magic)) {
        return cb(new SlipwayError('invalid_params', `unsupported compression ${name}: send a plain or gzip-compressed tar`));
      }
    }
    if (head.subarray(0, 2).equals(GZIP)) {
      this.mode = 'gzip';
      this.gunzip = createGunzip();
      this.gunzip.on('data', (d: Buffer) => this.push(d));
      this.gunzip.on('error', (e) => this.destroy(new SlipwayError('invalid_params', `bad gzip data: ${e.message}`)));
    } else {
      this.mode = 'plain';
    }
    this.forward(head, cb);
  }

  private forward(chunk: Buffer, cb: TransformCallback): void {
    if (!this.gunzip) {
      this.push(chunk);
      return cb();
    }
    if (this.gunzip.write(chunk)) cb();
    else this.gunzip.once('drain', () => cb());
  }
}

/** Hashes and validates the uncompressed tar while it flows to the temp file. */
class Inspect extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  private failure: SlipwayError | null = null;
  private readonly parser: Parser;
  private readonly checker: TarEntryChecker;

  constructor(allowDevices: boolean, private readonly maxBytes = Infinity) {
    super();
    this.checker = new TarEntryChecker(allowDevices);
    this.parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const why = this.checker.check({ path: entry.path, type: entry.type, linkpath: entry.linkpath });
        if (why && !this.failure) this.failure = new SlipwayError('invalid_params', `refused tar: ${why}`);
        entry.resume();
      },
    });
    this.parser.on('error', (e: Error) => {
      if (!this.failure) this.failure = new SlipwayError('invalid_params', `invalid tar archive: ${e.message}`);
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      return cb(new SlipwayError('payload_too_large', `the image is larger than ${this.maxBytes} bytes uncompressed, the most this host imports`));
    }
    this.parser.write(chunk);
    if (this.failure) return cb(this.failure);
    this.push(chunk);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      cb(this.failure);
    };
    this.parser.once('end', finish);
    this.parser.once('error', finish);
    this.parser.end();
    // A parser that already failed may never emit 'end'.
    if (this.failure) finish();
  }
}

/**
 * Streams `src` into `<tmpDir>/<random>.tar`. On any failure the temp file is removed and a
 * SlipwayError is thrown (invalid_params for bad input). `src` is never destroyed: on a refusal
 * the rest of it is drained, so an HTTP edge can still answer on the same connection.
 */
export async function receiveTar(src: Readable, tmpDir: string, opts: { allowDevices?: boolean; maxBytes?: number } = {}): Promise<ReceivedTar> {
  const path = join(tmpDir, `upload-${randomBytes(8).toString('hex')}.tar`);
  // Opened before anything can fail, so the clean-up below never races the file's creation.
  const file = await open(path, 'wx', 0o600);
  const decompress = new Decompress();
  const inspect = new Inspect(opts.allowDevices === true, opts.maxBytes);
  // A source that fails with its own SlipwayError (a fetch over its byte cap: 413) keeps it.
  const onSrcError = (e: Error) => decompress.destroy(e instanceof SlipwayError ? e : new SlipwayError('invalid_params', `upload failed: ${e.message}`, { cause: e }));
  src.once('error', onSrcError);
  src.pipe(decompress);
  try {
    await pipeline(decompress, inspect, file.createWriteStream());
    return { path, digest: `sha256:${inspect.hash.digest('hex')}`, size: inspect.size };
  } catch (err) {
    rmSync(path, { force: true });
    await file.close().catch(() => {});
    src.unpipe(decompress);
    if (!src.destroyed && !src.readableEnded) src.resume();
    if (err instanceof SlipwayError) throw err;
    throw new SlipwayError('internal_error', 'could not store the uploaded tar', { cause: err });
  } finally {
    src.off('error', onSrcError);
  }
}
