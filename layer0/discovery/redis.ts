// The one way Slipway components reach Redis: URL parsing and an ioredis factory that
// reconnects forever. Discovery, the scheduler, BullMQ queues and the log streams all use it.
import { Redis, type RedisOptions } from 'ioredis';
import { SlipwayError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';

export type { Redis };

export interface RedisTarget {
  /** Unix socket path (`redis+unix:///run/slipway/redis.sock`, `unix:///…`). */
  path?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
}

/**
 * Parses `redis://[user][:pass]@host[:port][/db]`, `redis+unix:///path[?password=…&db=…]`,
 * `unix:///path` or a bare absolute socket path. Throws `invalid_params` on anything else.
 */
export function parseRedisUrl(url: string): RedisTarget {
  if (url.startsWith('/')) return { path: url };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SlipwayError('invalid_params', `not a Redis URL: ${redact(url)}`);
  }
  const dec = (s: string) => (s ? decodeURIComponent(s) : undefined);
  const out: RedisTarget = {};
  const password = dec(u.password) ?? u.searchParams.get('password') ?? undefined;
  const username = dec(u.username) ?? u.searchParams.get('username') ?? undefined;
  if (password !== undefined) out.password = password;
  if (username !== undefined) out.username = username;
  if (u.protocol === 'redis+unix:' || u.protocol === 'unix:') {
    if (u.host) throw new SlipwayError('invalid_params', `a unix socket URL has no host (use ${u.protocol}///path): ${redact(url)}`);
    const path = decodeURIComponent(u.pathname);
    if (!path || path === '/') throw new SlipwayError('invalid_params', `no socket path in ${redact(url)}`);
    out.path = path;
    const db = u.searchParams.get('db');
    if (db !== null) out.db = parseDb(db, url);
    return out;
  }
  if (u.protocol !== 'redis:') throw new SlipwayError('invalid_params', `unsupported Redis URL scheme ${u.protocol} (redis:, redis+unix:, unix:)`);
  if (!u.hostname) throw new SlipwayError('invalid_params', `no host in ${redact(url)}`);
  out.host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  out.port = u.port ? Number(u.port) : 6379;
  const db = u.pathname.replace(/^\//, '') || u.searchParams.get('db');
  if (db) out.db = parseDb(db, url);
  return out;
}

function parseDb(s: string, url: string): number {
  if (!/^\d{1,2}$/.test(s)) throw new SlipwayError('invalid_params', `bad database number ${JSON.stringify(s)} in ${redact(url)}`);
  return Number(s);
}

/** The URL with its password replaced, for logs and error messages. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:@/]*:)[^@/]*@/, '$1***@').replace(/([?&]password=)[^&]*/, '$1***');
}

/** `redis+unix:///path` or `redis://:pass@host:port` for a target. */
export function formatRedisUrl(t: RedisTarget): string {
  const auth = t.password !== undefined ? `${encodeURIComponent(t.username ?? '')}:${encodeURIComponent(t.password)}@` : '';
  if (t.path) {
    const q = new URLSearchParams();
    if (t.password !== undefined) q.set('password', t.password);
    if (t.db) q.set('db', String(t.db));
    const qs = q.toString();
    return `redis+unix://${t.path}${qs ? `?${qs}` : ''}`;
  }
  const host = t.host?.includes(':') ? `[${t.host}]` : t.host;
  return `redis://${auth}${host}:${t.port ?? 6379}${t.db ? `/${t.db}` : ''}`;
}

export interface ConnectOptions {
  log?: Logger;
  /** Shown in `CLIENT LIST`. */
  name?: string;
  /** Cap of the reconnect back-off (default 1000 ms). */
  maxBackoffMs?: number;
  /** Extra ioredis options (rarely needed). */
  ioredis?: Partial<RedisOptions>;
}

/** Reconnect delay: 50 ms doubling up to the cap, with a little jitter so clients do not stampede. */
export function backoffMs(attempt: number, capMs = 1000): number {
  const base = Math.min(capMs, 50 * 2 ** Math.min(attempt - 1, 16));
  return Math.round(base * (0.8 + Math.random() * 0.2));
}

/**
 * An ioredis client that reconnects forever: commands issued while Redis is away wait in the
 * offline queue (`maxRetriesPerRequest: null`), so callers never see transient errors — they
 * must therefore keep at most one periodic command in flight (heartbeats, renewals do).
 */
export function connectRedis(url: string, opts: ConnectOptions = {}): Redis {
  const t = parseRedisUrl(url);
  const log = opts.log ?? silentLogger;
  const cap = opts.maxBackoffMs ?? 1000;
  const redis = new Redis({
    ...(t.path ? { path: t.path } : { host: t.host, port: t.port }),
    username: t.username,
    password: t.password,
    db: t.db ?? 0,
    connectionName: opts.name,
    retryStrategy: (times) => backoffMs(times, cap),
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    enableReadyCheck: true,
    connectTimeout: 5000,
    ...opts.ioredis,
  });
  attachLogging(redis, log, redact(url));
  return redis;
}

/** Logs connection changes once per transition (ioredis emits `error` on every failed retry). */
export function attachLogging(redis: Redis, log: Logger, where: string): void {
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log.warn({ err: err.message, redis: where }, 'redis unreachable; reconnecting');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info({ redis: where }, 'redis reconnected');
    down = false;
  });
}
