// The embedded Redis: `slipway up`, `slipway cluster up` and `slipway agent --cluster` start
// Debian's redis-server with DESIGN.md's settings when SLIPWAY_REDIS_URL is not set.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { SlipwayError } from '../common/errors.ts';
import { binary } from '../common/which.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { envBytes } from '../common/settings.ts';
import { formatRedisUrl } from './redis.ts';

export interface RedisServerOptions {
  /** Data directory: the AOF lives here (and the generated redis.conf). */
  dir: string;
  /** Always listened on, mode 700. */
  socketPath: string;
  /** Also listen on TCP (netns hosts); a password is then mandatory. */
  tcp?: { host: string; port: number; password: string };
  log?: Logger;
  /** Default `redis-server` from PATH. */
  binary?: string;
  /** How long to wait for the first PING (default 10 s). */
  startTimeoutMs?: number;
  /** `maxmemory` in bytes (writes fail beyond it rather than the host running out; see redisMaxmemory). */
  maxmemoryBytes?: number;
  /** SIGTERM it when the process that started it dies, even by SIGKILL (tests: a killed test run leaves no Redis). */
  dieWithParent?: boolean;
}

export interface RedisServer {
  /** `redis+unix:///…` (the socket, with the password when there is one). */
  readonly url: string;
  /** `redis://:pass@host:port` when TCP was asked for. */
  readonly tcpUrl?: string;
  readonly pid: number;
  /** Resolves when the process has exited, however it ends. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (Redis fsyncs and exits), SIGKILL after `graceMs` (default 10 s). */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
}

/** The redis.conf for these options; exported for the unit tests. */
export function redisConfig(opts: Pick<RedisServerOptions, 'dir' | 'socketPath' | 'tcp' | 'maxmemoryBytes'>): string {
  const q = (s: string) => JSON.stringify(s); // redis.conf accepts C-style double-quoted strings
  const lines = [
    'daemonize no',
    `dir ${q(opts.dir)}`,
    `unixsocket ${q(opts.socketPath)}`,
    'unixsocketperm 700',
    // Acknowledged means on disk: every write is fsynced before the reply (DESIGN.md).
    'appendonly yes',
    'appendfsync always',
    'aof-use-rdb-preamble yes',
    'save ""',
    // BullMQ and discovery keys must never be evicted: at maxmemory writes fail instead (the
    // per-app budgets keep tenants' logs far below it; `slipway status` warns from 80%).
    'maxmemory-policy noeviction',
    ...(opts.maxmemoryBytes ? [`maxmemory ${Math.floor(opts.maxmemoryBytes)}`] : []),
    'logfile ""',
    // Shows the config path in `ps`, so the tests' leak check can find a leftover server.
    'proc-title-template "{title} {listen-addr} {server-mode} {config-file}"',
  ];
  if (opts.tcp) {
    if (!opts.tcp.password) throw new SlipwayError('invalid_params', 'a Redis listening on TCP needs a password (requirepass)');
    if (!Number.isInteger(opts.tcp.port) || opts.tcp.port < 1 || opts.tcp.port > 65535) {
      throw new SlipwayError('invalid_params', `bad Redis TCP port ${opts.tcp.port}`);
    }
    lines.push(`port ${opts.tcp.port}`, `bind ${opts.tcp.host}`, `requirepass ${q(opts.tcp.password)}`, 'protected-mode yes');
  } else {
    lines.push('port 0');
  }
  return lines.join('\n') + '\n';
}

/** Share of the machine's memory the embedded Redis may use unless SLIPWAY_REDIS_MAXMEMORY says otherwise. */
export const DEFAULT_MAXMEMORY_SHARE = 0.25;
const MIN_MAXMEMORY = 64 * 2 ** 20;

/**
 * SLIPWAY_REDIS_MAXMEMORY: a size (`2G`) or a share of the machine's memory (`25%`, the default);
 * never below 64 MiB.
 */
export function redisMaxmemory(env: NodeJS.ProcessEnv = process.env, total = totalmem()): number {
  const v = env.SLIPWAY_REDIS_MAXMEMORY?.trim();
  const pct = v ? /^(\d+(?:\.\d+)?)%$/.exec(v) : null;
  if (v && !pct) return envBytes(env, 'SLIPWAY_REDIS_MAXMEMORY', 0, { min: MIN_MAXMEMORY });
  const share = pct ? Number(pct[1]) / 100 : DEFAULT_MAXMEMORY_SHARE;
  if (!(share > 0 && share <= 1)) throw new SlipwayError('invalid_params', `SLIPWAY_REDIS_MAXMEMORY: ${v} is not a share between 0% and 100%`);
  return Math.max(MIN_MAXMEMORY, Math.floor(total * share));
}

export async function startRedis(opts: RedisServerOptions): Promise<RedisServer> {
  const log = opts.log ?? silentLogger;
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const confPath = join(opts.dir, 'redis.conf');
  // The config file, not argv, carries the password, so it never shows in `ps`.
  writeFileSync(confPath, redisConfig(opts), { mode: 0o600 });

  // Its own process group: a Ctrl-C at the terminal must not stop Redis before the platform's
  // own shutdown (which still needs it) has run; the owner stops it last.
  // setpriv sets the parent-death signal, then execs Redis (same pid).
  const redisServer = binary('redis-server', opts.binary);
  const [cmd, args] = opts.dieWithParent ? [binary('setpriv'), ['--pdeathsig', 'SIGTERM', redisServer, confPath]] : [redisServer, [confPath]];
  const child = spawn(cmd as string, args as string[], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const tail: string[] = [];
  const onLine = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 20) tail.shift();
      log.debug({ redis: child.pid }, line);
    }
  };
  child.stdout!.on('data', onLine);
  child.stderr!.on('data', onLine);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const password = opts.tcp?.password;
  const url = formatRedisUrl({ path: opts.socketPath, password });
  const tcpUrl = opts.tcp ? formatRedisUrl({ host: opts.tcp.host, port: opts.tcp.port, password }) : undefined;
  try {
    await waitReady(child, opts.socketPath, password, opts.startTimeoutMs ?? 10_000, exited, spawnError);
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.race([exited, spawnError]);
    throw new SlipwayError('unavailable', `redis-server did not start: ${(err as Error).message}\n${tail.join('\n')}`, { cause: err });
  }
  log.info({ pid: child.pid, socket: opts.socketPath, tcp: opts.tcp ? `${opts.tcp.host}:${opts.tcp.port}` : undefined }, 'redis started');

  const signalAndWait = async (sig: NodeJS.Signals, graceMs?: number) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    if (graceMs === undefined) {
      await exited;
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    url,
    tcpUrl,
    pid: child.pid!,
    exited,
    stop: (graceMs = 10_000) => signalAndWait('SIGTERM', graceMs),
    kill: () => signalAndWait('SIGKILL'),
  };
}

async function waitReady(
  child: ChildProcess,
  socketPath: string,
  password: string | undefined,
  timeoutMs: number,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  spawnError: Promise<Error>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone: string | undefined;
  void exited.then((e) => (gone = `exited with ${e.signal ?? e.code}`));
  void spawnError.then((e) => (gone = e.message));
  while (Date.now() < deadline) {
    if (gone) throw new Error(gone);
    const probe = new Redis({ path: socketPath, password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      // The ready check waited for the AOF to load; PING confirms commands are served.
      await probe.ping();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    } finally {
      probe.disconnect();
    }
  }
  if (gone) throw new Error(gone);
  if (child.exitCode === null) throw new Error(`no answer on ${socketPath} within ${timeoutMs} ms`);
}
