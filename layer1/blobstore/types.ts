// The blobstore's public types: blob ids (sha256, 64 lowercase hex), what a stored blob looks
// like, and how to reach a blob server. Used by the builder, the controller and the CLI.
import { z } from 'zod';
import { SlipwayError } from '../../layer0/common/errors.ts';

export const BLOB_ID_RE = /^[0-9a-f]{64}$/;
export const BlobId = z.string().regex(BLOB_ID_RE, 'a blob id: 64 lowercase hex digits (sha256)');
export type BlobId = z.infer<typeof BlobId>;

export interface BlobInfo {
  id: BlobId;
  size: number;
  /** Last write (or re-put) of the blob, ms since the epoch: gc's grace period counts from it. */
  mtimeMs: number;
}

export interface PutResult {
  id: BlobId;
  size: number;
  /** False when the blob was already stored (the upload was verified and dropped). */
  created: boolean;
}

export interface GcResult {
  deleted: BlobId[];
  freedBytes: number;
  kept: number;
}

/** How a client reaches a blob server: its base URL (`http://127.0.0.1:7001`) and the token. */
export interface BlobServerTarget {
  url: string;
  token: string;
}

/** Throws `invalid_params` unless `id` is a blob id (so no id ever reaches a file path unchecked). */
export function checkBlobId(id: string): BlobId {
  if (!BLOB_ID_RE.test(id)) throw new SlipwayError('invalid_params', `not a blob id: ${JSON.stringify(id.slice(0, 80))}`);
  return id;
}
