// Credentials the agent sends when it fetches an image URL (`fromSrc`): a bearer token per origin
// (scheme://host:port), sent only to exactly that origin, never for a URL a tenant named
// (`fromSrcUntrusted`), and never again after a redirect (the fetch follows none). What the
// origins are is the composition root's business (layer 1 hands in its blobstore's).
import { SlipwayError } from '../common/errors.ts';

export interface FetchAuth {
  /** `http://host:port` as `new URL(...).origin` spells it. */
  origin: string;
  bearer: string;
}

/** Checks and normalises the entries (origin as URL#origin spells it; a token without spaces). */
export function checkFetchAuth(list: FetchAuth[]): FetchAuth[] {
  return list.map(({ origin, bearer }) => {
    let o: string;
    try {
      o = new URL(origin).origin;
    } catch {
      throw new SlipwayError('invalid_params', `fetch auth: not an origin: ${JSON.stringify(origin)}`);
    }
    if (o === 'null' || !/^https?:\/\//.test(o)) throw new SlipwayError('invalid_params', `fetch auth: not an http(s) origin: ${JSON.stringify(origin)}`);
    if (!bearer || /[\s,]/.test(bearer)) throw new SlipwayError('invalid_params', `fetch auth for ${o}: the token is empty or has spaces or commas`);
    return { origin: o, bearer };
  });
}

/**
 * `SLIPWAY_FETCH_AUTH` / `--fetch-auth-file` text: entries `<origin> <token>` separated by
 * newlines or commas; blank lines and `#` comments skipped.
 */
export function parseFetchAuth(text: string): FetchAuth[] {
  const out: FetchAuth[] = [];
  for (const raw of text.split(/[\n,]/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new SlipwayError('invalid_params', 'fetch auth: expected "<origin> <token>" per entry');
    out.push({ origin: parts[0]!, bearer: parts[1]! });
  }
  return checkFetchAuth(out);
}

/** The Authorization header for `url`, if one of the entries is for exactly its origin. */
export function fetchAuthHeader(list: readonly FetchAuth[], url: URL): string | null {
  const hit = list.find((a) => a.origin === url.origin);
  return hit ? `Bearer ${hit.bearer}` : null;
}
