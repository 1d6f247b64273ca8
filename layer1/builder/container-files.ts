// The files a build container gets and gives back: a small tar of /tmp's build and env dirs (one
// file per config var: the name is the file, the value its content, no newline) and the source tar
// re-owned to `app`, written before start (the build runs as `app`, so everything it must write is
// app's); and the outputs (/tmp/out/slug.tgz → the blobstore, result.json → parsed) read from the
// archive stream afterwards, without holding the slug in memory. /tmp/out is not made here: the
// driver makes it fresh once no app code runs any more (buildpacks/README.md).
import { Transform, type Readable, type TransformCallback } from 'node:stream';
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

/** `build/` and `env/<NAME>` for each config var, owned by `uid`: extracted into the container's /tmp. */
export function skeletonTar(config: Record<string, string>, uid: number): Buffer {
  const parts: Buffer[] = [...entry('build/', 'Directory', uid), ...entry('env/', 'Directory', uid)];
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

/**
 * A tar stream with every entry's owner set to `uid:uid` (ustar uid/gid fields, names cleared, the
 * checksum redone; pax `uid`/`gid`/`uname`/`gname` records dropped). `git archive` writes root as
 * the owner, and the agent extracts owners as they are: re-owned, the source is the build's to
 * change, as it is on Heroku. Anything that does not parse as tar is refused.
 */
export function reownTar(uid: number): Transform {
  let pending: Buffer = Buffer.alloc(0);
  let dataLeft = 0; // bytes of the current entry's body (padded) still to pass through
  let pax: { header: Buffer; size: number; body: Buffer[] } | null = null;
  let ended = false;
  const octal = (n: number, width: number) => Buffer.from(`${n.toString(8).padStart(width - 1, '0')}\0`);
  const fixSum = (h: Buffer) => {
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += h[i]!;
    Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `).copy(h, 148);
  };
  const sizeOf = (h: Buffer): number => {
    if (h[124]! & 0x80) throw new SlipwayError('invalid_params', 'source tar: base-256 sizes are not supported');
    const text = h.subarray(124, 136).toString('latin1').replace(/[\0 ]+$/, '').trim();
    const n = text ? parseInt(text, 8) : 0;
    if (!Number.isFinite(n) || n < 0) throw new SlipwayError('invalid_params', 'source tar: a header is not valid');
    return n;
  };
  const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      try {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        const out: Buffer[] = [];
        while (pending.length) {
          if (ended) {
            out.push(pending);
            pending = Buffer.alloc(0);
            break;
          }
          if (pax) {
            const need = padded(pax.size) - pax.body.reduce((a, b) => a + b.length, 0);
            const take = pending.subarray(0, need);
            pax.body.push(take);
            pending = pending.subarray(take.length);
            if (take.length < need) break;
            const kept = paxRecords(Buffer.concat(pax.body).subarray(0, pax.size)).filter(([k]) => !['uid', 'gid', 'uname', 'gname'].includes(k));
            const body = Buffer.from(kept.map(([k, v]) => paxRecord(k, v)).join(''));
            const h = Buffer.from(pax.header);
            octal(body.length, 12).copy(h, 124);
            fixSum(h);
            out.push(h, body, Buffer.alloc(padded(body.length) - body.length));
            pax = null;
            continue;
          }
          if (dataLeft > 0) {
            const take = pending.subarray(0, dataLeft);
            out.push(take);
            dataLeft -= take.length;
            pending = pending.subarray(take.length);
            continue;
          }
          if (pending.length < BLOCK) break;
          const h = Buffer.from(pending.subarray(0, BLOCK));
          pending = pending.subarray(BLOCK);
          if (h.every((b) => b === 0)) {
            ended = true; // the end-of-archive blocks and whatever padding follows
            out.push(h);
            continue;
          }
          const type = String.fromCharCode(h[156]!);
          const size = sizeOf(h);
          if (type === 'x' || type === 'g') {
            pax = { header: h, size, body: [] };
            continue;
          }
          octal(uid, 8).copy(h, 108);
          octal(uid, 8).copy(h, 116);
          h.fill(0, 265, 329); // uname, gname
          fixSum(h);
          out.push(h);
          dataLeft = ['1', '2', '3', '4', '5', '6'].includes(type) ? 0 : padded(size);
        }
        for (const b of out) this.push(b);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done: TransformCallback) {
      if (pending.length || pax || dataLeft > 0) return done(new SlipwayError('invalid_params', 'source tar: truncated'));
      done();
    },
  });
}

function paxRecords(buf: Buffer): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    const len = Number(buf.subarray(i, sp).toString('latin1'));
    if (sp < 0 || !Number.isInteger(len) || len <= sp - i || i + len > buf.length) throw new SlipwayError('invalid_params', 'source tar: a pax header is not valid');
    const kv = buf.subarray(sp + 1, i + len).toString('utf8').replace(/\n$/, '');
    const eq = kv.indexOf('=');
    out.push([kv.slice(0, eq), kv.slice(eq + 1)]);
    i += len;
  }
  return out;
}

function paxRecord(k: string, v: string): string {
  const body = ` ${k}=${v}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}
