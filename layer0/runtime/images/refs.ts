// Image references: parsing and normalising `name[:tag]` the way Docker does
// (`docker.io/library/x` → `x`, a missing tag → `latest`), and telling ids from names.
import { SlipwayError } from '../../common/errors.ts';

// Grammar of github.com/distribution/reference (reference.go), without digests.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const FULL_ID_RE = /^(?:sha256:)?([0-9a-f]{64})$/;
const ID_PREFIX_RE = /^(?:sha256:)?([0-9a-f]{4,64})$/;

export interface ParsedRef {
  /** Normalised repository name, e.g. `x`, `slipway/stack`, `localhost:5000/x`. */
  name: string;
  tag: string;
}

function invalid(ref: string, why: string): SlipwayError {
  return new SlipwayError('invalid_params', `invalid reference format: ${JSON.stringify(ref)}: ${why}`);
}

/** Parses `name[:tag]`; throws invalid_params on anything Docker would refuse (digests included). */
export function parseRef(ref: string): ParsedRef {
  if (typeof ref !== 'string' || ref === '') throw invalid(String(ref), 'empty');
  if (ref.includes('@')) throw invalid(ref, 'digest references are not supported');
  let name = ref;
  let tag = 'latest';
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) {
    name = ref.slice(0, colon);
    tag = ref.slice(colon + 1);
    if (!TAG_RE.test(tag)) throw invalid(ref, 'bad tag');
  }
  const parts = name.split('/');
  let domain = '';
  if (parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === 'localhost' || /[A-Z]/.test(parts[0]))) {
    domain = parts.shift()!;
    if (!DOMAIN_RE.test(domain)) throw invalid(ref, 'bad domain');
  }
  for (const p of parts) {
    if (!PATH_COMPONENT_RE.test(p)) throw invalid(ref, 'repository name must be lowercase');
  }
  if (domain === 'docker.io' || domain === 'index.docker.io') {
    domain = '';
    if (parts.length === 2 && parts[0] === 'library') parts.shift();
  } else if (domain === '' && parts.length === 2 && parts[0] === 'library') {
    parts.shift();
  }
  name = (domain ? [domain, ...parts] : parts).join('/');
  if (name.length > 255) throw invalid(ref, 'repository name too long');
  return { name, tag };
}

/** `name[:tag]` → canonical `name:tag`. */
export function normalizeRef(ref: string): string {
  const { name, tag } = parseRef(ref);
  return `${name}:${tag}`;
}

/** Like normalizeRef, but null instead of throwing. */
export function tryNormalizeRef(ref: string): string | null {
  try {
    return normalizeRef(ref);
  } catch {
    return null;
  }
}

/** The 64-hex id when `ref` is a full image id (with or without `sha256:`). */
export function fullIdHex(ref: string): string | null {
  return FULL_ID_RE.exec(ref)?.[1] ?? null;
}

/** The hex prefix when `ref` could be a short id (≥ 4 hex). */
export function idPrefixHex(ref: string): string | null {
  return ID_PREFIX_RE.exec(ref)?.[1] ?? null;
}

export function repoName(normalizedRef: string): string {
  return normalizedRef.slice(0, normalizedRef.lastIndexOf(':'));
}
