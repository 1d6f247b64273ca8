// Query-string rules of the Docker API as Moby applies them: booleans ("1", "true", anything
// but ""/0/no/false/none), integers, and `filters` in both JSON shapes the clients send.
import { SlipwayError } from '../common/errors.ts';
import type { ImageRecord } from '../runtime/types.ts';

const FALSE_WORDS = new Set(['', '0', 'no', 'false', 'none']);

/** Moby's `httputils.BoolValue`: absent → `dflt`; "", 0, no, false, none (any case) → false. */
export function boolParam(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  return !FALSE_WORDS.has(v.trim().toLowerCase());
}

/** An integer parameter; absent or '' → `dflt`; anything else that is not an integer → 400. */
export function intParam(q: URLSearchParams, name: string, dflt: number): number;
export function intParam(q: URLSearchParams, name: string, dflt?: undefined): number | undefined;
export function intParam(q: URLSearchParams, name: string, dflt?: number): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  if (!/^-?\d+$/.test(v.trim())) throw new SlipwayError('invalid_params', `invalid value for ${name}: ${JSON.stringify(v)}`);
  return Number(v);
}

/** Unix time as Docker sends it (`1700000000`, `1700000000.123456789`) → seconds; absent → undefined. */
export function unixTimeParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new SlipwayError('invalid_params', `invalid value for ${name}: ${JSON.stringify(v)}`);
  return ms / 1000;
}

/** Unix seconds (possibly fractional, as a string) → nanoseconds, exactly. */
export function unixTimeNanoParam(q: URLSearchParams, name: string): bigint | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const m = /^(-?\d+)(?:\.(\d{1,9})\d*)?$/.exec(v);
  if (m) return BigInt(m[1]) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new SlipwayError('invalid_params', `invalid value for ${name}: ${JSON.stringify(v)}`);
  return BigInt(ms) * 1_000_000n;
}

/** Filters as `name → values`. Accepts `{"label":["a=b"]}` (dockerode) and `{"label":{"a=b":true}}` (CLI). */
export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | null): Filters {
  const out: Filters = new Map();
  if (raw === null || raw.trim() === '') return out;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new SlipwayError('invalid_params', `invalid filter: ${JSON.stringify(raw)} is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new SlipwayError('invalid_params', 'invalid filter: expected an object');
  for (const [key, val] of Object.entries(v as Record<string, unknown>)) {
    let values: string[];
    if (Array.isArray(val)) values = val.map(String);
    else if (typeof val === 'string') values = [val];
    else if (val !== null && typeof val === 'object') values = Object.entries(val).filter(([, on]) => on !== false).map(([k]) => k);
    else throw new SlipwayError('invalid_params', `invalid filter '${key}'`);
    if (values.length) out.set(key, values);
  }
  return out;
}

/** 400 for a filter name the endpoint does not know, as Moby does (`invalid filter 'x'`). */
export function checkFilterNames(f: Filters, allowed: readonly string[]): void {
  for (const k of f.keys()) if (!allowed.includes(k)) throw new SlipwayError('invalid_params', `invalid filter '${k}'`);
}

/** `label` filter values (`key` or `key=value`) against a label map: every value must match. */
export function matchLabels(values: string[] | undefined, labels: Record<string, string>): boolean {
  if (!values) return true;
  return values.every((v) => {
    const eq = v.indexOf('=');
    if (eq < 0) return Object.hasOwn(labels, v);
    return labels[v.slice(0, eq)] === v.slice(eq + 1);
  });
}

/** A shell-style glob (`*`, `?`, `[...]`) as Go's path.Match sees it: `*` stops at `/`. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Docker's reference filter: a glob against `name:tag` and against `name` alone. */
export function referenceMatches(img: ImageRecord, patterns: string[]): boolean {
  return patterns.some((p) => {
    const re = globToRegExp(p);
    return img.tags.some((t) => re.test(t) || re.test(t.slice(0, t.lastIndexOf(':'))) || re.test(`docker.io/library/${t}`));
  });
}
