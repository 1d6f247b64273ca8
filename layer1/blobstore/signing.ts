// Who may read a blob: the bearer token (constant-time compare); the read token derived from it,
// which agents hold (their image import sends it to the blob origin only: layer0/agent/fetch-auth.ts)
// and which reads blobs, nothing else; or a signed URL for one blob that expires
// (`/blobs/<id>?exp=<unix s>&sig=<hmac>`). Releases store bare blob URLs (a URL alone reads
// nothing); signed URLs are for short hand-outs, and releases made before still hold 30-day ones.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { checkBlobId } from './types.ts';

/** Compares secrets in time independent of where they differ (lengths via their hashes). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** The URL-signing key, derived from the server's token (so holders of the token can sign). */
function signingKey(token: string): Buffer {
  return createHmac('sha256', token).update('slipway blob url v1').digest();
}

/**
 * The agents' read-only token: GET/HEAD of one blob, no listing, upload or delete. Derived from
 * the server's token, so rotating `blob-token` revokes it too.
 */
export function agentReadToken(token: string): string {
  return `slwr_${createHmac('sha256', token).update('slipway blob read v1').digest('base64url')}`;
}

/** A signed URL's default lifetime: long enough to hand to a fetch that starts now. */
export const SIGNED_URL_TTL_SEC = 10 * 60;

export function signature(token: string, id: string, exp: number): string {
  return createHmac('sha256', signingKey(token)).update(`${id}.${exp}`).digest('base64url');
}

/** `<base>/blobs/<id>?exp=…&sig=…`, valid for `ttlSec` seconds (GET and HEAD of that blob only). */
export function signBlobUrl(base: string, token: string, id: string, ttlSec = SIGNED_URL_TTL_SEC, now = Date.now()): string {
  checkBlobId(id);
  const exp = Math.floor(now / 1000) + Math.max(1, Math.floor(ttlSec));
  return `${base.replace(/\/+$/, '')}/blobs/${id}?exp=${exp}&sig=${signature(token, id, exp)}`;
}

export type SignatureCheck = 'ok' | 'expired' | 'bad';

export function checkSignature(token: string, id: string, expRaw: string, sig: string, now = Date.now()): SignatureCheck {
  if (!/^\d{1,12}$/.test(expRaw)) return 'bad';
  const exp = Number(expRaw);
  if (!safeEqual(signature(token, id, exp), sig)) return 'bad';
  return exp * 1000 < now ? 'expired' : 'ok';
}
