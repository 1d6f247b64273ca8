// Token secrets: `slw_` + 32 random bytes (base64url). Only their sha256 is stored; the
// secret is shown once, in the response that creates it.
import { createHash, randomBytes } from 'node:crypto';

const TOKEN_RE = /^slw_[A-Za-z0-9_-]{43}$/;

export function newTokenSecret(): string {
  return `slw_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The secret of an `Authorization: Bearer …` header, or null when absent or malformed. */
export function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m && TOKEN_RE.test(m[1]) ? m[1] : null;
}
