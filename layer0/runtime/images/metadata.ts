// Image metadata on disk: one `images.json` under the store root, written atomically (temp file,
// fsync, rename) so a kill at any point leaves the old or the new state; and the image id rule.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ImageRecordSchema, type ImageConfig, type ImageRecord } from '../types.ts';

const MetadataFileSchema = z.object({ version: z.literal(1), images: z.array(ImageRecordSchema) });

/** JSON with object keys sorted at every level: the form that ids are computed over. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function computeImageId(p: { layer: string; parent: string | null; config: ImageConfig; created: string }): string {
  const body = canonicalJson({ layer: p.layer, parent: p.parent, config: p.config, created: p.created });
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** Writes `data` to `file` atomically: a sibling temp file, fsync, rename. */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = join(dirname(file), `.tmp-${randomBytes(6).toString('hex')}-${file.split('/').pop()}`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function loadImages(file: string): ImageRecord[] {
  if (!existsSync(file)) return [];
  const parsed = MetadataFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  return parsed.images;
}

export function saveImages(file: string, images: Iterable<ImageRecord>): void {
  writeFileAtomic(file, `${JSON.stringify({ version: 1, images: [...images] }, null, 1)}\n`);
}
