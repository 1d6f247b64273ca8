// Composition root of `slipway cluster up/down`: a cluster on one machine. Each host is a
// network namespace on the cluster bridge (layer0/network/netns-host.ts) with its own agent
// and a scheduler standby, all sharing one embedded Redis (unix socket + TCP on the gateway with
// requirepass) and the stack cache. Every process is detached with its pid in `cluster.json`,
// so `cluster up` returns once ready and `cluster down` (or a test) can stop it from anywhere.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { silentLogger, type Logger } from '../../../layer0/common/logger.ts';
import { slipwayPaths } from '../../../layer0/common/paths.ts';
import { redisConfig, redisMaxmemory } from '../../../layer0/discovery/redis-server.ts';
import { formatRedisUrl } from '../../../layer0/discovery/redis.ts';
import { cleanupByPrefix } from '../../../layer0/network/index.ts';
import {
  createClusterBridge, createNetnsHost, hostAddress, hostCommand, hostNetnsName, removeClusterBridge, removeNetnsHost,
} from '../../../layer0/network/netns-host.ts';
import { removeCgroupParent } from '../../../layer0/runtime/index.ts';
import { DEFAULT_ADMIN_PORT, DEFAULT_HTTP_PORT, DEFAULT_HTTPS_PORT } from '../../router/server.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'bin/slipway.js');
export const AGENT_PORT = 2375;
/** Every host's router listens on the host's address at DESIGN.md's ports (each host has its own netns). */
const ROUTER_PORTS = { http: DEFAULT_HTTP_PORT, https: DEFAULT_HTTPS_PORT, admin: DEFAULT_ADMIN_PORT } as const;
const HOSTS_SERVICE = 'slipway-hosts';

export interface ClusterUpOptions {
  hosts: number;
  /** Default `$SLIPWAY_HOME/cluster`. */
  dir?: string;
  /** Base prefix (default SLIPWAY_PREFIX or `slw`); hosts get `<prefix>h<i>`, the bridge `<prefix>c0`. */
  prefix?: string;
  cache?: string;
  /** Capacity each agent advertises (`2g`, `1`). */
  memory?: string;
  cpus?: string;
  /** Import the default stack into every host (default true). */
  importStack?: boolean;
  /** Run a scheduler standby on every host (default true). */
  schedulers?: boolean;
  /** Run a router on every host (default true), as `host join` does. */
  routers?: boolean;
  /** The cluster bridge's /24 (default 172.30.0.0/24, or the first free one). */
  subnet?: string;
  readyTimeoutMs?: number;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface HostState {
  index: number;
  netns: string;
  address: string;
  agentUrl: string;
  socketPath: string;
  /** The agent's instance prefix. */
  prefix: string;
  /** The agent's container /24. */
  subnet: string;
  home: string;
  run: string;
  mountDir: string;
  pid: number | null;
  schedulerPid: number | null;
  /** Null also in a state file written before hosts ran routers. */
  routerPid?: number | null;
}

export interface ClusterState {
  dir: string;
  prefix: string;
  bridge: string;
  subnet: string;
  gateway: string;
  cache: string;
  /** `external`: SLIPWAY_REDIS_URL at `cluster up` (reachable from the hosts: TCP, or a unix socket, which netns hosts share). */
  redis: { pid: number | null; port: number; socketPath: string; external?: string };
  agentFlags: string[];
  schedulers: boolean;
  routers?: boolean;
  hosts: HostState[];
}

export interface ClusterHost {
  index: number;
  netns: string;
  address: string;
  agentUrl: string;
  socketPath: string;
  pid: number | null;
  /** `http://<address>:8080` when the host runs a router, else null. */
  routerUrl: string | null;
}

export interface Cluster {
  dir: string;
  prefix: string;
  hosts: ClusterHost[];
  /** `redis://:pass@gateway:port` (what the hosts use). */
  redisUrl: string;
  /** `redis+unix:///…?password=…` (what the machine uses). */
  redisSocketUrl: string;
  /** The agents' bearer token. */
  token: string;
  state(): ClusterState;
  /** SIGKILL the host's agent, its containers' conmons and its containers (a crashed machine). */
  killHost(index: number, opts?: { containers?: boolean }): Promise<void>;
  /** Start the host's agent again (it adopts its containers) and wait until it is ready. */
  startHost(index: number): Promise<void>;
  killScheduler(index: number): Promise<void>;
  startScheduler(index: number): Promise<void>;
  down(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const statePath = (dir: string) => join(dir, 'cluster.json');
const secret = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8').trim();

export function defaultClusterDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(slipwayPaths(env).home, 'cluster');
}

function saveState(s: ClusterState): void {
  writeFileSync(statePath(s.dir), JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
}

export function loadState(dir: string): ClusterState | null {
  try {
    return JSON.parse(readFileSync(statePath(dir), 'utf8')) as ClusterState;
  } catch {
    return null;
  }
}

// ---- processes -------------------------------------------------------------------------------

function cmdline(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return null;
  }
}

/** Alive and not a zombie, and (when `marker` is given) carrying it in its command line, so a
 *  recycled pid is never signalled. */
export function ownsPid(pid: number | null, marker?: string): pid is number {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
  } catch {
    return false;
  }
  return marker === undefined || (cmdline(pid)?.includes(marker) ?? false);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
async function stopPid(pid: number | null, marker: string, graceMs = 10_000): Promise<void> {
  if (!ownsPid(pid, marker)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (ownsPid(pid) && Date.now() < deadline) await sleep(50);
  if (ownsPid(pid, marker)) await killPid(pid, marker);
}

async function killPid(pid: number | null, marker?: string): Promise<void> {
  if (!ownsPid(pid, marker)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const deadline = Date.now() + 5000;
  while (ownsPid(pid) && Date.now() < deadline) await sleep(20);
}

function spawnDetached(file: string, args: string[], env: NodeJS.ProcessEnv, logPath: string): number {
  const out = openSync(logPath, 'a');
  try {
    const child = spawn(file, args, { env, detached: true, stdio: ['ignore', out, out] });
    child.on('error', () => undefined);
    child.unref();
    if (!child.pid) throw new Error(`could not start ${file}`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** The conmons of a host (their runc root is under its run dir) and its containers' processes
 *  (found in the host's own cgroup parent). */
function hostProcesses(h: HostState): number[] {
  const pids = new Set<number>();
  const root = `--root=${join(h.run, 'runc')}`;
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    const cmd = cmdline(Number(p));
    if (cmd?.split(' ')[0]?.endsWith('conmon') && cmd.includes(root) && cmd.includes(`${h.prefix}-`)) pids.add(Number(p));
  }
  const parent = `/sys/fs/cgroup/pids/${h.prefix}`;
  for (const c of existsSync(parent) ? readdirSync(parent, { withFileTypes: true }) : []) {
    if (!c.isDirectory()) continue;
    try {
      for (const l of readFileSync(join(parent, c.name, 'cgroup.procs'), 'utf8').split('\n')) if (l) pids.add(Number(l));
    } catch {
      /* gone */
    }
  }
  return [...pids];
}

// ---- HTTP to the agents ----------------------------------------------------------------------

interface CallTarget {
  socketPath?: string;
  url?: string;
  token?: string;
}

function agentCall(t: CallTarget, method: string, path: string, timeoutMs = 30_000): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const u = t.url ? new URL(t.url) : null;
    const req = request({
      ...(u ? { host: u.hostname, port: Number(u.port) } : { socketPath: t.socketPath }),
      method, path, timeout: timeoutMs,
      headers: t.token ? { authorization: `Bearer ${t.token}` } : {},
    }, (r) => {
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

const pings = (t: CallTarget) => agentCall(t, 'GET', '/_ping', 2000).then((r) => r.status === 200, () => false);

async function removeContainers(t: CallTarget): Promise<void> {
  const list = await agentCall(t, 'GET', '/containers/json?all=1').catch(() => null);
  for (const c of list?.status === 200 ? (JSON.parse(list.body) as { Id: string }[]) : []) {
    await agentCall(t, 'DELETE', `/containers/${c.Id}?force=1`).catch(() => undefined);
  }
}

async function freePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

// ---- the cluster -----------------------------------------------------------------------------

function hostEnv(s: ClusterState, h: HostState, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...env, SLIPWAY_HOME: h.home, SLIPWAY_RUN: h.run, SLIPWAY_PREFIX: h.prefix, SLIPWAY_CACHE: s.cache,
    // In the environment rather than argv: `ps` would show the password.
    SLIPWAY_REDIS_URL: hostsRedisUrl(s),
  };
  delete e.SLIPWAY_BIND;
  return e;
}

function startAgentProcess(s: ClusterState, h: HostState, env: NodeJS.ProcessEnv): number {
  const argv = [
    process.execPath, BIN, 'agent', '--cluster', '--advertise', h.address, '--tcp', `${h.address}:${AGENT_PORT}`,
    '--token-file', join(s.dir, 'token'), '--subnet', h.subnet, '--labels', `slipway.netns=${h.netns}`,
    // The hosts' bridge (the machine's gateway with Redis, every host): never reached from containers.
    '--deny', s.subnet, ...s.agentFlags,
  ];
  const c = hostCommand({ netns: h.netns, mountNs: join(h.mountDir, 'mnt') }, argv);
  return spawnDetached(c.file, c.args, hostEnv(s, h, env), join(s.dir, 'logs', `agent-${h.index}.log`));
}

function startSchedulerProcess(s: ClusterState, h: HostState, env: NodeJS.ProcessEnv): number {
  const c = hostCommand({ netns: h.netns }, [process.execPath, BIN, 'scheduler', '--token-file', join(s.dir, 'token')]);
  return spawnDetached(c.file, c.args, hostEnv(s, h, env), join(s.dir, 'logs', `scheduler-${h.index}.log`));
}

function startRouterProcess(s: ClusterState, h: HostState, env: NodeJS.ProcessEnv): number {
  const argv = [
    process.execPath, BIN, 'router', '--bind', h.address,
    '--http-port', String(ROUTER_PORTS.http), '--https-port', String(ROUTER_PORTS.https), '--admin-port', String(ROUTER_PORTS.admin),
    // in the cluster dir, so the process is recognised as this cluster's (ownsPid)
    '--pid-file', join(s.dir, 'run', `router-${h.index}.pid`),
  ];
  const c = hostCommand({ netns: h.netns }, argv);
  return spawnDetached(c.file, c.args, hostEnv(s, h, env), join(s.dir, 'logs', `router-${h.index}.log`));
}

/** True when the host's router answers /healthz (it has loaded the routes). */
const routerServing = (h: HostState) => fetch(`http://${h.address}:${ROUTER_PORTS.admin}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status === 200, () => false);

/** Ids of the hosts registered in discovery, or null when the discovery client cannot be used. */
async function registeredHosts(redisSocketUrl: string): Promise<Set<string> | null> {
  const { createDiscovery } = await import('../../../layer0/discovery/client.ts').catch(() => ({ createDiscovery: null }));
  if (!createDiscovery) return null;
  const d = createDiscovery({ url: redisSocketUrl, sweepMs: 0 });
  try {
    return new Set((await d.instances(HOSTS_SERVICE)).map((i) => i.id));
  } finally {
    await d.close();
  }
}

function agentId(h: HostState): string | null {
  try {
    return readFileSync(join(h.home, 'agent-id'), 'utf8').trim();
  } catch {
    return null;
  }
}

async function waitReady(s: ClusterState, hosts: HostState[], timeoutMs: number): Promise<void> {
  const token = secret(s.dir, 'token');
  const socketUrl = redisSocketUrl(s);
  const deadline = Date.now() + timeoutMs;
  let pending = hosts;
  for (;;) {
    for (const h of pending) {
      if (!ownsPid(h.pid)) throw new Error(`the agent of host ${h.index} exited; see ${join(s.dir, 'logs', `agent-${h.index}.log`)}`);
      if (h.routerPid && !ownsPid(h.routerPid)) throw new Error(`the router of host ${h.index} exited; see ${join(s.dir, 'logs', `router-${h.index}.log`)}`);
    }
    const pinged = await Promise.all(pending.map((h) => pings({ url: h.agentUrl, token })));
    const routing = await Promise.all(pending.map((h) => (h.routerPid ? routerServing(h) : true)));
    const registered = await registeredHosts(socketUrl).catch(() => new Set<string>());
    pending = pending.filter((h, i) => !(pinged[i] && routing[i] && (registered === null || registered.has(agentId(h) ?? ''))));
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`hosts ${pending.map((h) => h.index).join(', ')} not ready within ${timeoutMs / 1000} s; see ${join(s.dir, 'logs')}`);
    }
    await sleep(200);
  }
}

const redisSocketUrl = (s: ClusterState) => s.redis.external ?? formatRedisUrl({ path: s.redis.socketPath, password: secret(s.dir, 'redis-password') });
const hostsRedisUrl = (s: ClusterState) => s.redis.external ?? formatRedisUrl({ host: s.gateway, port: s.redis.port, password: secret(s.dir, 'redis-password') });
const redisMarker = (s: ClusterState) => join(s.dir, 'redis');

async function startRedisProcess(s: ClusterState): Promise<number> {
  const dir = join(s.dir, 'redis');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const conf = join(dir, 'redis.conf');
  const tcp = { host: s.gateway, port: s.redis.port, password: secret(s.dir, 'redis-password') };
  writeFileSync(conf, redisConfig({ dir, socketPath: s.redis.socketPath, tcp, maxmemoryBytes: redisMaxmemory() }), { mode: 0o600 });
  const pid = spawnDetached('redis-server', [conf], process.env, join(s.dir, 'logs', 'redis.log'));
  const { connectRedis } = await import('../../../layer0/discovery/redis.ts');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (!ownsPid(pid)) break;
    if (existsSync(s.redis.socketPath)) {
      const r = connectRedis(redisSocketUrl(s), { log: silentLogger });
      const ok = await Promise.race([r.ping().then(() => true, () => false), sleep(1000).then(() => false)]);
      r.disconnect();
      if (ok) return pid;
    }
    await sleep(50);
  }
  throw new Error(`redis-server did not start; see ${join(s.dir, 'logs', 'redis.log')}`);
}

export async function clusterUp(opts: ClusterUpOptions): Promise<Cluster> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? silentLogger;
  const paths = slipwayPaths(env);
  const dir = resolve(opts.dir ?? defaultClusterDir(env));
  const prefix = opts.prefix ?? paths.prefix;
  const n = opts.hosts;
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error(`--hosts must be 1..200, got ${n}`);
  if (`${prefix}h${n}`.length > 10) throw new Error(`prefix ${prefix} is too long for ${n} hosts: ${prefix}h${n} must fit in 10 characters`);
  const prev = loadState(dir);
  if (prev && (ownsPid(prev.redis.pid, redisMarker(prev)) || prev.hosts.some((h) => ownsPid(h.pid, dir)))) {
    throw new Error(`a cluster of ${dir} is already up; stop it with: slipway cluster down`);
  }
  if (prev) await clusterDown({ dir, log });

  for (const d of ['logs', 'run', 'hosts']) mkdirSync(join(dir, d), { recursive: true });
  for (const f of ['token', 'redis-password']) {
    if (!existsSync(join(dir, f))) writeFileSync(join(dir, f), `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  }
  const bridge = await createClusterBridge({ prefix, subnet: opts.subnet });
  const agentFlags = [
    ...(opts.memory ? ['--memory', opts.memory] : []), ...(opts.cpus ? ['--cpus', opts.cpus] : []),
    ...(opts.importStack === false ? [] : ['--import-stack']),
  ];
  const s: ClusterState = {
    dir, prefix, bridge: bridge.name, subnet: bridge.subnet, gateway: bridge.gateway, cache: opts.cache ?? paths.cache,
    redis: { pid: null, port: await freePort(bridge.gateway), socketPath: join(dir, 'run', 'redis.sock'), external: env.SLIPWAY_REDIS_URL || undefined },
    agentFlags, schedulers: opts.schedulers !== false, routers: opts.routers !== false, hosts: [],
  };
  for (let i = 1; i <= n; i++) {
    const hdir = join(dir, 'hosts', String(i));
    const address = hostAddress(bridge.subnet, i);
    s.hosts.push({
      index: i, netns: hostNetnsName(prefix, i), address, agentUrl: `http://${address}:${AGENT_PORT}`,
      socketPath: join(hdir, 'run', 'agent.sock'), prefix: `${prefix}h${i}`, subnet: `172.31.${10 + i}.0/24`,
      home: join(hdir, 'home'), run: join(hdir, 'run'), mountDir: join(hdir, 'ns'), pid: null, schedulerPid: null, routerPid: null,
    });
  }
  saveState(s);
  try {
    if (!s.redis.external) {
      s.redis.pid = await startRedisProcess(s);
      saveState(s);
      log.info({ pid: s.redis.pid, port: s.redis.port }, 'redis up');
    }
    for (const h of s.hosts) {
      await createNetnsHost({ prefix, index: h.index, bridge: bridge.name, subnet: bridge.subnet, mountDir: h.mountDir });
      mkdirSync(h.home, { recursive: true });
      mkdirSync(h.run, { recursive: true });
      h.pid = startAgentProcess(s, h, env);
      if (s.schedulers) h.schedulerPid = startSchedulerProcess(s, h, env);
      if (s.routers) h.routerPid = startRouterProcess(s, h, env);
      saveState(s);
    }
    await waitReady(s, s.hosts, opts.readyTimeoutMs ?? 60_000);
  } catch (err) {
    await clusterDown({ dir, log }).catch(() => undefined);
    throw err;
  }
  return openCluster(dir, env);
}

/** The Cluster of a directory whose `cluster up` already ran. */
export function openCluster(dir: string, env: NodeJS.ProcessEnv = process.env): Cluster {
  const load = () => {
    const s = loadState(dir);
    if (!s) throw new Error(`no cluster in ${dir}`);
    return s;
  };
  const host = (s: ClusterState, i: number) => {
    const h = s.hosts.find((x) => x.index === i);
    if (!h) throw new Error(`no host ${i} in the cluster`);
    return h;
  };
  const s0 = load();
  const view = (h: HostState): ClusterHost => ({
    index: h.index, netns: h.netns, address: h.address, agentUrl: h.agentUrl, socketPath: h.socketPath, pid: h.pid,
    routerUrl: h.routerPid ? `http://${h.address}:${ROUTER_PORTS.http}` : null,
  });
  return {
    dir,
    prefix: s0.prefix,
    get hosts() {
      return load().hosts.map(view);
    },
    redisUrl: hostsRedisUrl(s0),
    redisSocketUrl: redisSocketUrl(s0),
    token: secret(dir, 'token'),
    state: load,
    async killHost(i, opts = {}) {
      const s = load();
      const h = host(s, i);
      await killPid(h.pid, dir);
      for (const pid of hostProcesses(h)) {
        if (opts.containers === false && !cmdline(pid)?.split(' ')[0]?.endsWith('conmon')) continue;
        await killPid(pid);
      }
    },
    async startHost(i) {
      const s = load();
      const h = host(s, i);
      if (ownsPid(h.pid, dir)) throw new Error(`the agent of host ${i} is running (pid ${h.pid})`);
      h.pid = startAgentProcess(s, h, env);
      saveState(s);
      await waitReady(s, [h], 30_000);
    },
    async killScheduler(i) {
      const h = host(load(), i);
      await killPid(h.schedulerPid, dir);
    },
    async startScheduler(i) {
      const s = load();
      const h = host(s, i);
      if (ownsPid(h.schedulerPid, dir)) return;
      h.schedulerPid = startSchedulerProcess(s, h, env);
      saveState(s);
    },
    down: () => clusterDown({ dir }),
  };
}

/** Removes the cluster of `dir` and everything it made on the machine; idempotent. */
export async function clusterDown(opts: { dir?: string; log?: Logger; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? silentLogger;
  const dir = resolve(opts.dir ?? defaultClusterDir(env));
  const s = loadState(dir);
  if (!s) return;
  await Promise.all(s.hosts.flatMap((h) => [stopPid(h.schedulerPid, dir), stopPid(h.routerPid ?? null, dir)]));
  // Containers go through their agent (a live one, else a temporary one in the host's
  // namespaces over the same dirs), so their mounts, netns and rules are undone properly.
  await Promise.all(s.hosts.map(async (h) => {
    const t = { socketPath: h.socketPath };
    if (ownsPid(h.pid, dir) && (await pings(t))) {
      await removeContainers(t);
    } else if (existsSync(join(h.home, 'containers')) && readdirSync(join(h.home, 'containers')).length > 0) {
      await withTemporaryAgent(s, h, env, () => removeContainers(t)).catch((err: unknown) => log.warn({ err, host: h.index }, 'temporary agent failed'));
    }
    await stopPid(h.pid, dir);
    for (const pid of hostProcesses(h)) await killPid(pid);
  }));
  for (const h of s.hosts) {
    await cleanupByPrefix(h.prefix);
    removeCgroupParent(h.prefix);
    await removeNetnsHost({ prefix: s.prefix, index: h.index, mountDir: h.mountDir });
  }
  await cleanupByPrefix(s.prefix);
  await removeClusterBridge({ prefix: s.prefix, subnet: s.subnet });
  await stopPid(s.redis.pid, redisMarker(s));
  rmSync(statePath(dir), { force: true });
  log.info({ dir }, 'cluster down');
}

async function withTemporaryAgent(s: ClusterState, h: HostState, env: NodeJS.ProcessEnv, fn: () => Promise<void>): Promise<void> {
  await createNetnsHost({ prefix: s.prefix, index: h.index, bridge: s.bridge, subnet: s.subnet, mountDir: h.mountDir });
  const c = hostCommand({ netns: h.netns, mountNs: join(h.mountDir, 'mnt') }, [process.execPath, BIN, 'agent', '--subnet', h.subnet]);
  const e = hostEnv(s, h, env);
  delete e.SLIPWAY_REDIS_URL;
  const pid = spawnDetached(c.file, c.args, e, join(s.dir, 'logs', `agent-${h.index}.log`));
  try {
    const deadline = Date.now() + 15_000;
    while (!(await pings({ socketPath: h.socketPath }))) {
      if (!ownsPid(pid) || Date.now() > deadline) throw new Error(`temporary agent of host ${h.index} did not start`);
      await sleep(100);
    }
    await fn();
  } finally {
    await stopPid(pid, BIN);
  }
}

// ---- the commands ----------------------------------------------------------------------------

export interface ClusterUpFlags {
  hosts: string;
  memory?: string;
  cpus?: string;
  importStack?: boolean;
  schedulers?: boolean;
  routers?: boolean;
  subnet?: string;
}

export function hostsTable(c: Cluster): string {
  const rows = [['HOST', 'NETNS', 'ADDRESS', 'AGENT', 'ROUTER', 'PID'], ...c.hosts.map((h) => [String(h.index), h.netns, h.address, h.agentUrl, h.routerUrl ?? '-', String(h.pid ?? '-')])];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((x, i) => x.padEnd(w[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

export async function clusterUpCommand(flags: ClusterUpFlags): Promise<void> {
  const c = await clusterUp({
    hosts: Number(flags.hosts), memory: flags.memory, cpus: flags.cpus, importStack: flags.importStack,
    schedulers: flags.schedulers, routers: flags.routers, subnet: flags.subnet,
  });
  process.stdout.write(hostsTable(c));
  process.stdout.write(`redis: ${c.redisSocketUrl.replace(/password=[^&]*/, 'password=***')} (password and agent token in ${c.dir})\n`);
}

export async function clusterDownCommand(): Promise<void> {
  await clusterDown();
  process.stdout.write('cluster is down\n');
}
