// startAgent: wires the image store, the host network and the container runtime (adopting the
// containers that outlived a previous agent) to the Docker API server on the unix socket and,
// optionally, TCP with a bearer token. Called by `slipway agent` / `slipway up` (layer1/cli).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { availableParallelism, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SlipwayError } from '../common/errors.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { mkdirPrivate } from '../common/private-state.ts';
import { agentSocketPath, type SlipwayPaths } from '../common/paths.ts';
import { createHostNetwork } from '../network/index.ts';
import { importBuildStack, importStack } from '../runtime/images/stack.ts';
import { createRuntime, ImageStore } from '../runtime/index.ts';
import { DEFAULT_CAPABILITIES } from '../runtime/capabilities.ts';
import { restrictHome } from '../runtime/private-home.ts';
import { seccompProfile } from '../runtime/seccomp.ts';
import { runcPath } from '../runtime/runc.ts';
import { describeCgroups, hostCgroups } from '../runtime/cgroups.ts';
import { startCollector } from './collector.ts';
import { EventHub, nowNano } from './events.ts';
import { FencingGuard } from './fencing.ts';
import { JobRegistrar } from './job-registrar.ts';
import { startPeerDeny } from './peer-deny.ts';
import { HOSTS_SERVICE, type Discovery, type Registration } from '../discovery/types.ts';
import { archiveRoutes } from './routes/archive.ts';
import { containerRoutes } from './routes/containers.ts';
import type { AgentDeps, HostFacts } from './routes/deps.ts';
import { checkFetchAuth, type FetchAuth } from './fetch-auth.ts';
import { execRoutes } from './routes/exec.ts';
import { imageRoutes } from './routes/images.ts';
import { metricsSampler } from './routes/metrics.ts';
import { streamRoutes } from './routes/streams.ts';
import { systemRoutes } from './routes/system.ts';
import { Router } from './router.ts';
import { createApiServer } from './server.ts';

const execFileP = promisify(execFile);

export interface AgentOptions {
  paths: SlipwayPaths;
  tcp?: { host: string; port: number; token: string };
  log?: Logger;
  /** Advertised capacity (`/info` NCPU and MemTotal); default the machine's. */
  capacity?: { memory: number; cpus: number };
  /** Import the default stack from the machine cache once serving (in the background). */
  /** `'await'`: before startAgent returns (slipway up is ready only with it). */
  importStack?: boolean | 'await';
  /** The container /24 (e.g. `172.31.12.0/24`); default: the first free one. */
  subnet?: string;
  /** Join a cluster: heartbeat this host into discovery, register healthy jobs. */
  cluster?: ClusterOptions;
  /**
   * Where ports published with no host IP are bound (Docker's `dockerd --ip`); default the
   * cluster address, else 127.0.0.1: only where the router and health checks reach them.
   */
  publishIp?: string;
  /** Addresses or CIDRs containers never reach; in a cluster every host's address is added. */
  deny?: string[];
  /** Bearer tokens the agent sends with image URL fetches, each to exactly its origin (fetch-auth.ts). */
  fetchAuth?: FetchAuth[];
}

export interface ClusterOptions {
  discovery: Discovery;
  /** The address other hosts use to reach this host's published ports (and its agent). */
  address: string;
  /** How schedulers reach this agent: `http://address:port` (TCP, token) or `unix:///path`. */
  agentUrl: string;
  labels?: Record<string, string>;
  ttlMs?: number;
  heartbeatMs?: number;
}

export interface RunningAgent {
  socketPath: string;
  tcpPort?: number;
  hostId: string;
  /** Leaves the cluster at once (`close` alone lets the membership expire after the TTL, so a
   *  quick agent restart does not move its jobs). */
  leave(): Promise<void>;
  close(): Promise<void>;
}

async function hostFacts(paths: SlipwayPaths): Promise<HostFacts> {
  const idFile = join(paths.home, 'agent-id');
  if (!existsSync(idFile)) writeFileSync(idFile, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  const [runc, osRelease] = await Promise.all([
    execFileP(runcPath(), ['--version']).then((r) => r.stdout, () => ''),
    readFile('/etc/os-release', 'utf8').catch(() => ''),
  ]);
  return {
    id: readFileSync(idFile, 'utf8').trim(),
    name: hostname(),
    kernelVersion: release(),
    operatingSystem: /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? 'Linux',
    machineCpus: availableParallelism(),
    runcVersion: /runc version (\S+)/.exec(runc)?.[1] ?? 'unknown',
    runcCommit: /commit: (\S+)/.exec(runc)?.[1] ?? '',
    rootDir: paths.home,
  };
}

/** Removes a socket file nobody answers on; refuses to start when another agent serves it. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new SlipwayError('conflict', `another agent is serving ${path}`);
  unlinkSync(path);
}

function listen(server: Server, ...args: [string] | [number, string]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(...(args as [number, string]), () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The publish address: asked for, else the cluster address when it is an IPv4 literal, else 127.0.0.1. */
function publishIpOf(opts: AgentOptions, log: Logger): string {
  if (opts.publishIp !== undefined) return opts.publishIp;
  const address = opts.cluster?.address;
  if (address === undefined) return '127.0.0.1';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) return address;
  log.warn({ address }, 'the cluster address is not an IPv4 address: ports are published on every address');
  return '';
}

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const { paths } = opts;
  const log = opts.log ?? createLogger('agent');
  // Every container's seccomp filter comes from this file: refuse to start without it, saying why.
  seccompProfile(DEFAULT_CAPABILITIES);
  mkdirPrivate(paths.home);
  const restricted = restrictHome(paths.home);
  if (restricted) log.info({ home: paths.home, entries: restricted }, 'made the state directory private (0700/0600)');
  mkdirSync(paths.run, { recursive: true });
  const socketPath = agentSocketPath(paths);
  await clearStaleSocket(socketPath);

  const events = new EventHub();
  const images = new ImageStore({
    root: join(paths.home, 'images'),
    cacheRoot: paths.cache,
    logger: log.child({ component: 'images' }),
    onEvent: (action, id, attributes) => events.push({ type: 'image', action, id, attributes, timeNano: nowNano() }),
  });
  const network = createHostNetwork({
    prefix: paths.prefix, stateDir: join(paths.home, 'network'), subnet: opts.subnet, publishIp: publishIpOf(opts, log), deny: opts.deny,
  }, log);
  const runtime = createRuntime({ paths, images, network, log: log.child({ component: 'runtime' }) });
  const unsubscribe = runtime.onEvent((e) => e.type === 'container' && events.push(e));
  // The bridge and NAT are made now rather than at the first container start (a hot path).
  const [host] = await Promise.all([hostFacts(paths), runtime.adopt(), network.setup()]);
  // What a crash left in the kernel (netns, veths, DNAT rules of containers that are gone) goes
  // now; containers the runtime still knows keep theirs.
  await network.prune(runtime.list().map((c) => c.id));
  // Before the first container of a cluster host starts: its peers are denied from the start.
  const peers = opts.cluster ? await startPeerDeny({ discovery: opts.cluster.discovery, network, static: opts.deny ?? [], log: log.child({ component: 'peer-deny' }) }) : null;
  const capacity = opts.capacity ?? { memory: totalmem(), cpus: availableParallelism() };
  const registrar = opts.cluster
    ? new JobRegistrar({ runtime, discovery: opts.cluster.discovery, hostId: host.id, address: opts.cluster.address, log: log.child({ component: 'registrar' }), ttlMs: opts.cluster.ttlMs, heartbeatMs: opts.cluster.heartbeatMs })
    : undefined;
  const deps: AgentDeps = { runtime, images, events, host, capacity, log, registrar, fetchAuth: checkFetchAuth(opts.fetchAuth ?? []) };
  const fence = new FencingGuard(join(paths.home, 'fencing-token'));
  const collector = startCollector({ images, runtime, log: log.child({ component: 'collector' }) });
  const metrics = metricsSampler(deps);
  const router = new Router().add([
    ...systemRoutes(deps), ...containerRoutes(deps), ...streamRoutes(deps, metrics),
    ...execRoutes(deps), ...archiveRoutes(deps), ...imageRoutes(deps), ...metrics.routes,
  ]);

  const servers: Server[] = [];
  const unix = createApiServer({ router, log, fence });
  await listen(unix, socketPath);
  chmodSync(socketPath, 0o660);
  servers.push(unix);
  let tcpPort: number | undefined;
  if (opts.tcp) {
    const tcp = createApiServer({ router, log, token: opts.tcp.token, fence });
    await listen(tcp, opts.tcp.port, opts.tcp.host);
    tcpPort = (tcp.address() as AddressInfo).port;
    servers.push(tcp);
  }
  log.info({ socketPath, tcpPort, containers: runtime.list().length }, 'agent serving');
  let membership: Registration | null = null;
  if (opts.cluster) {
    const c = opts.cluster;
    registrar!.start();
    membership = await c.discovery.register(HOSTS_SERVICE, {
      id: host.id,
      addr: c.agentUrl,
      meta: { address: c.address, memory: String(capacity.memory), cpus: String(capacity.cpus), labels: JSON.stringify(c.labels ?? {}), name: host.name, cgroups: describeCgroups(hostCgroups()) },
    }, { ttlMs: c.ttlMs, heartbeatMs: c.heartbeatMs });
    log.info({ hostId: host.id, address: c.address, agentUrl: c.agentUrl }, 'joined the cluster');
  }
  if (opts.importStack) {
    // The run image first (apps need it), then the build image (builds on this host need it).
    const imported = importStack(images, paths).then(
      (img) => log.info({ id: img.id, tags: img.tags }, 'stack imported'),
      (err: unknown) => log.error({ err }, 'stack import failed'),
    ).then(() => importBuildStack(images, paths)).then(
      (img) => log.info({ id: img.id, tags: img.tags }, 'build stack imported'),
      (err: unknown) => log.error({ err }, 'build stack import failed'),
    );
    // `slipway up` is ready only once the stack can run; `slipway agent` serves meanwhile.
    if (opts.importStack === 'await') await imported;
  }

  let closing: Promise<void> | null = null;
  return {
    socketPath,
    tcpPort,
    hostId: host.id,
    async leave() {
      await membership?.deregister();
      membership = null;
    },
    close() {
      // Containers keep running under their monitors: only the serving stops.
      closing ??= (async () => {
        await Promise.all(servers.map(closeServer));
        collector.close();
        metrics.close();
        peers?.close();
        registrar?.close();
        unsubscribe();
        await runtime.close();
        if (existsSync(socketPath)) unlinkSync(socketPath);
        log.info('agent stopped');
      })();
      return closing;
    },
  };
}
