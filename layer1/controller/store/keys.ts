// The controller's Redis key layout (all under one prefix, `ctl:` by default) and small
// helpers shared by the store files: time-ordered ids and Lua scripts run by EVALSHA.
import { randomBytes } from 'node:crypto';

export const DEFAULT_PREFIX = 'ctl:';

export class Keys {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}
  /** The data model's schema version (an integer), advanced by migrations.ts. */
  get schema() { return `${this.prefix}schema`; }
  get migrating() { return `${this.prefix}migrating`; }
  get bootstrap() { return `${this.prefix}bootstrap`; }
  /** Hash app name → app id; the name's uniqueness lives here. */
  get appNames() { return `${this.prefix}app-names`; }
  /** Sorted set of app names (all scores 0), for listing in name order. */
  get appIndex() { return `${this.prefix}apps`; }
  /** Hash of one app. Every other key of the app starts with `appPrefix(id)` and goes with it. */
  app(id: string) { return `${this.prefix}app:${id}`; }
  appPrefix(id: string) { return `${this.prefix}app:${id}:`; }
  /** Hash user id → app role. */
  appAccess(id: string) { return `${this.prefix}app:${id}:access`; }
  /** Set of ids of the tokens limited to this app. */
  appTokens(id: string) { return `${this.prefix}app:${id}:tokens`; }
  get userNames() { return `${this.prefix}user-names`; }
  get userIndex() { return `${this.prefix}users`; }
  user(id: string) { return `${this.prefix}user:${id}`; }
  /** Hash app id → app role: the mirror of appAccess. */
  userApps(id: string) { return `${this.prefix}user:${id}:apps`; }
  userTokens(id: string) { return `${this.prefix}user:${id}:tokens`; }
  /** Hash of a token, keyed by the sha256 of its secret. */
  token(hash: string) { return `${this.prefix}token:${hash}`; }
  /** Hash token id → sha256, to find a token by id (listing, revoking). */
  get tokenIds() { return `${this.prefix}token-ids`; }
  /** Stream of mutating calls. */
  get audit() { return `${this.prefix}audit`; }
}

/** Ids that sort by creation time: a prefix, 9 base-36 digits of milliseconds, 8 random hex. */
export function timeId(kind: string): string {
  return `${kind}_${Date.now().toString(36).padStart(9, '0')}${randomBytes(4).toString('hex')}`;
}

/** Lua scripts (EVALSHA, with EVAL after Redis lost its script cache): discovery's runner. */
export { LuaScript as Script } from '../../../layer0/discovery/client.ts';

/** A flat [field, value, …] reply as an object (HGETALL inside Lua returns it flat). */
export function fromFlat(flat: unknown): Record<string, string> | null {
  if (!Array.isArray(flat) || flat.length === 0) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

export function nonEmpty(h: Record<string, string>): Record<string, string> | null {
  return Object.keys(h).length ? h : null;
}

/** Takes one page of items sorted by `key` after the cursor: `{ items, next }`. */
export function page<T>(sorted: T[], key: (t: T) => string, limit: number, after?: string): { items: T[]; next: string | null } {
  const start = after === undefined ? 0 : sorted.findIndex((t) => key(t) > after);
  const rest = start < 0 ? [] : sorted.slice(start);
  const items = rest.slice(0, limit);
  return { items, next: rest.length > limit ? key(items[items.length - 1]) : null };
}
