// Dashboard sessions: a random id in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS);
// Redis maps its hash to the API token, the user and the form (CSRF) token, so the token never
// reaches the browser and logging out (or idling 12 hours) ends the session on the server.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { TOKEN_ROLES, type TokenRole } from '../layer1/controller/types.ts';

export const COOKIE = 'slipway_session';
const TTL_SEC = 12 * 3600;

export interface Session {
  id: string;
  token: string;
  csrf: string;
  user: string;
  admin: boolean;
  /** The token's own role and app scope (the session's ceiling on every app). */
  tokenRole: TokenRole;
  tokenApp: string | null;
  /** One message for the next page (after a redirect). */
  flash?: Flash;
}

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

const hash = (id: string) => createHash('sha256').update(id).digest('hex');

export class Sessions {
  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  private key(id: string) {
    return `${this.prefix}web:session:${hash(id)}`;
  }

  async create(s: Omit<Session, 'id' | 'csrf' | 'flash'>): Promise<Session> {
    const session: Session = { ...s, id: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url') };
    await this.redis.multi()
      .hset(this.key(session.id), { token: s.token, csrf: session.csrf, user: s.user, admin: s.admin ? '1' : '0', tokenRole: s.tokenRole, tokenApp: s.tokenApp ?? '' })
      .expire(this.key(session.id), TTL_SEC)
      .exec();
    return session;
  }

  /** The session of a cookie value, its idle timer restarted; null when unknown or expired. */
  async get(id: string | undefined): Promise<Session | null> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const key = this.key(id);
    const [[, h]] = (await this.redis.multi().hgetall(key).expire(key, TTL_SEC).exec()) as [[unknown, Record<string, string>]];
    if (!h?.token) return null;
    let flash: Flash | undefined;
    if (h.flash) {
      try {
        flash = JSON.parse(h.flash) as Flash;
      } catch {
        /* a damaged message is dropped */
      }
    }
    return { id, token: h.token, csrf: h.csrf ?? '', user: h.user ?? '', admin: h.admin === '1', tokenRole: TOKEN_ROLES.find((r) => r === h.tokenRole) ?? 'view', tokenApp: h.tokenApp || null, ...(flash ? { flash } : {}) };
  }

  /** Whether a session still exists (without restarting its idle timer). */
  async exists(id: string): Promise<boolean> {
    return (await this.redis.exists(this.key(id))) === 1;
  }

  async setFlash(s: Session, flash: Flash): Promise<void> {
    await this.redis.hset(this.key(s.id), 'flash', JSON.stringify(flash));
  }

  /** Reads and clears the pending message. */
  async takeFlash(s: Session): Promise<Flash | undefined> {
    if (!s.flash) return undefined;
    await this.redis.hdel(this.key(s.id), 'flash');
    return s.flash;
  }

  async destroy(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }
}

/** Constant-time comparison of a submitted form token with the session's. */
export function csrfMatches(session: Session, submitted: unknown): boolean {
  if (typeof submitted !== 'string' || !session.csrf) return false;
  const a = Buffer.from(submitted);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
