// The files a build container gets and gives back: a small tar of /tmp's build, env (one file per
// config var: the name is the file, the value its content, no newline) and out dirs, written
// before start; and the outputs (/tmp/out/slug.tgz → the blobstore, result.json → parsed) read
// from the archive stream afterwards, without holding the slug in memory.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Header, Parser, type ReadEntry } from 'tar';
import { SlipwayError } from '../../layer0/common/errors.ts';
import type { BlobClient } from '../blobstore/client.ts';
import type { PutResult } from '../blobstore/types.ts';
import { SlugMeter, slugLimits, type SlugLimits } from './slug.ts';
import { DriverResultSchema, type DriverResult } from './types.ts';

const BLOCK = 512;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;

function entry(path: string, type: 'Directory' | 'File', uid: number, body?: Buffer): Buffer[] {
  const h = new Header({ path, type, mode: type === 'Directory' ? 0o755 : 0o644, uid, gid: uid, size: body?.length ?? 0, mtime: new Date(), uname: '', gname: '' });
  const head = Buffer.alloc(BLOCK);
  if (h.encode(head, 0)) throw new SlipwayError('invalid_params', `tar path too long: ${path}`);
  if (!body?.length) return [head];
  return [head, body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK)];
}

/** `build/`, `env/<NAME>` for each config var, `out/`: extracted into the container's /tmp. */
export function skeletonTar(config: Record<string, string>, uid: number): Buffer {
  const parts: Buffer[] = [...entry('build/', 'Directory', uid), ...entry('env/', 'Directory', uid), ...entry('out/', 'Directory', uid)];
  for (const [name, value] of Object.entries(config)) {
    if (!ENV_NAME.test(name)) throw new SlipwayError('invalid_params', `config var name not usable as a file name: ${JSON.stringify(name)}`);
    parts.push(...entry(`env/${name}`, 'File', uid, Buffer.from(value)));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

export interface BuildOutputs {
  slug: PutResult | null;
  result: DriverResult | null;
  /** Why result.json could not be read, when it was there but bad. */
  resultError?: string;
  /** Why the slug was refused (too large, packed or unpacked; not gzip). */
  slugError?: string;
}

/** Reads the tar of `/tmp/out`: streams `slug.tgz` into the blobstore and parses `result.json`. */
export async function readOutputs(tar: Readable, blobs: BlobClient, limits: SlugLimits = slugLimits()): Promise<BuildOutputs> {
  const out: BuildOutputs = { slug: null, result: null };
  const tasks: Promise<void>[] = [];
  const parser = new Parser({ noResume: true });
  parser.on('entry', (e: ReadEntry) => {
    const name = e.path.replace(/^(\.\/)?(out\/)?/, '');
    if (e.type === 'File' && name === 'slug.tgz') {
      // Counted on its way to the blobstore, packed and unpacked (SlugMeter): a bomb stops at the limit.
      const meter = new SlugMeter(limits);
      (e as unknown as Readable).pipe(meter);
      tasks.push(blobs.put(meter as unknown as AsyncIterable<Uint8Array>).then(
        (r) => void (out.slug = r),
        (err: unknown) => {
          e.resume();
          // The upload fails in its own words (a reset, a stream error): the meter's reason is the one to show.
          if (meter.errored instanceof SlipwayError) out.slugError = meter.errored.message;
          else throw err;
        },
      ));
    } else if (e.type === 'File' && name === 'result.json') {
      tasks.push((async () => {
        const chunks: Buffer[] = [];
        let n = 0;
        for await (const c of e as unknown as AsyncIterable<Buffer>) {
          n += c.length;
          if (n <= 1 << 20) chunks.push(c);
        }
        try {
          out.result = DriverResultSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          out.resultError = `result.json: ${(err as Error).message}`.slice(0, 500);
        }
      })());
    } else {
      e.resume();
    }
  });
  await pipeline(tar, parser as unknown as NodeJS.WritableStream);
  await Promise.all(tasks);
  return out;
}
