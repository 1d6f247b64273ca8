// The role matrix: what a caller (a user through one token) may do on an app or platform-wide.
// A token never grants more than its user has: the effective role is the weaker of the two.
import type { AppRole, TokenRole } from '../types.ts';

export type Role = TokenRole;
const RANK: Record<Role, number> = { view: 1, deploy: 2, owner: 3, admin: 4 };

export function atLeast(role: Role | null, needed: Role): boolean {
  return role !== null && RANK[role] >= RANK[needed];
}

export function weaker(a: Role, b: Role): Role {
  return RANK[a] <= RANK[b] ? a : b;
}

export interface Principal {
  userId: string;
  userName: string;
  admin: boolean;
  tokenId: string;
  tokenRole: Role;
  /** The one app (stable id) the token reaches, or null for all. */
  tokenAppId: string | null;
}

/** The caller a valid token stands for (`store.tokens.authenticate`'s answer): the API's Bearer and git's Basic auth. */
export function principalOf({ token, user }: { token: { id: string; role: Role; appId: string }; user: Record<string, string> }): Principal {
  return { userId: user.id!, userName: user.name!, admin: user.admin === '1', tokenId: token.id, tokenRole: token.role, tokenAppId: token.appId || null };
}

/**
 * Platform-wide role of the caller: admin only for an admin user's admin token that is not
 * limited to one app (L3: an app-scoped admin token is an admin on its app, never over users,
 * the audit log or other people's tokens).
 */
export function globalRole(p: Principal): Role {
  return p.tokenRole === 'admin' && (!p.admin || p.tokenAppId !== null) ? 'owner' : p.tokenRole;
}

/**
 * The caller's role on one app, or null when the app is invisible to them (answer 404).
 * `grant` is the user's access grant on that app.
 */
export function appRole(p: Principal, appId: string, grant: AppRole | null): Role | null {
  if (p.tokenAppId !== null && p.tokenAppId !== appId) return null;
  const userRole: Role | null = p.admin ? 'admin' : grant;
  if (userRole === null) return null;
  return weaker(userRole, p.tokenRole);
}
