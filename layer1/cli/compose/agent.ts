// Composition root of `slipway agent`: parses the flags into startAgent's options, starts the
// host agent, and closes it on SIGTERM/SIGINT. The only layer-1 file that imports its server.
import { readFileSync } from 'node:fs';
import { createLogger } from '../../../layer0/common/logger.ts';
import { agentSocketPath, slipwayPaths } from '../../../layer0/common/paths.ts';
import { startAgent, type ClusterOptions } from '../../../layer0/agent/daemon.ts';
import { connectAgent } from '../../../layer0/agent/index.ts';
import { parseFetchAuth, type FetchAuth } from '../../../layer0/agent/fetch-auth.ts';
import { startShipper } from '../../logs/shipper.ts';
import { createDiscovery } from '../../../layer0/discovery/client.ts';
import type { Discovery } from '../../../layer0/discovery/types.ts';
import { platformRedis, type PlatformRedis } from './redis.ts';
import { availableParallelism, hostname, totalmem } from 'node:os';

export interface AgentFlags {
  cluster?: boolean;
  redis?: string;
  advertise?: string;
  subnet?: string;
  labels?: string;
  tcp?: string;
  tokenFile?: string;
  memory?: string;
  cpus?: string;
  importStack?: boolean;
  /** `cidr,cidr`: addresses containers never reach. */
  deny?: string;
  /** `<origin> <token>` lines: bearer tokens for image fetches (the blobstore's read token). */
  fetchAuthFile?: string;
}

/** `10.0.0.0/24,10.0.1.5` → a list; the Redis host joins it when it is an IPv4 address beyond loopback. */
export function denyList(flag: string | undefined, redisUrl: string | undefined): string[] {
  const out = (flag ?? '').split(',').map((d) => d.trim()).filter(Boolean);
  const host = redisUrl && /^rediss?:/.test(redisUrl) ? (URL.canParse(redisUrl) ? new URL(redisUrl).hostname : '') : '';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) && !host.startsWith('127.')) out.push(host);
  return out;
}

/**
 * The agent's credentials for image fetches: `SLIPWAY_FETCH_AUTH` (entries `<origin> <token>`,
 * by newline or comma) and the file `SLIPWAY_FETCH_AUTH_FILE` or `--fetch-auth-file` names.
 */
export function agentFetchAuthFromEnv(env: NodeJS.ProcessEnv, file?: string): FetchAuth[] {
  const path = file ?? env.SLIPWAY_FETCH_AUTH_FILE;
  return [...parseFetchAuth(env.SLIPWAY_FETCH_AUTH ?? ''), ...(path ? parseFetchAuth(readFileSync(path, 'utf8')) : [])];
}

/** `512m`, `8g`, `1073741824`, `2G` → bytes. */
export function parseBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw new Error(`invalid size: ${JSON.stringify(v)} (e.g. 512m, 8g)`);
  const mult = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

/** `k=v,k2=v2` → a map. */
export function parseLabels(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(',').map((p) => p.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i < 1) throw new Error(`invalid label ${JSON.stringify(part)}: expected key=value`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

/** `2375`, `:2375`, `0.0.0.0:2375` → host and port; the host defaults to SLIPWAY_BIND or 127.0.0.1. */
export function parseListen(v: string, env: NodeJS.ProcessEnv = process.env): { host: string; port: number } {
  const m = /^(?:(.*):)?(\d{1,5})$/.exec(v.trim());
  if (!m || Number(m[2]) > 65535) throw new Error(`invalid --tcp ${JSON.stringify(v)}: expected [host:]port`);
  return { host: m[1] || env.SLIPWAY_BIND || '127.0.0.1', port: Number(m[2]) };
}

export async function runAgent(flags: AgentFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const log = createLogger('agent');
  const paths = slipwayPaths(env);
  let tcp: { host: string; port: number; token: string } | undefined;
  if (flags.tcp !== undefined) {
    const token = flags.tokenFile ? readFileSync(flags.tokenFile, 'utf8').trim() : env.SLIPWAY_AGENT_TOKEN ?? '';
    if (!token) throw new Error('--tcp needs a token: --token-file FILE (or SLIPWAY_AGENT_TOKEN)');
    tcp = { ...parseListen(flags.tcp || env.SLIPWAY_AGENT_PORT || '2375', env), token };
  }
  const capacity = {
    memory: flags.memory ? parseBytes(flags.memory) : totalmem(),
    cpus: flags.cpus ? Number(flags.cpus) : availableParallelism(),
  };
  if (!(capacity.cpus > 0)) throw new Error(`invalid --cpus ${JSON.stringify(flags.cpus)}`);
  let cluster: ClusterOptions | undefined;
  let discovery: Discovery | undefined;
  let redisUrl = flags.redis ?? env.SLIPWAY_REDIS_URL;
  let embedded: PlatformRedis | null = null;
  if (flags.cluster || redisUrl) {
    if (!redisUrl) {
      embedded = await platformRedis(paths, log, env); // a one-host cluster of its own
      redisUrl = embedded.url;
    }
    const address = flags.advertise ?? tcp?.host ?? env.SLIPWAY_BIND ?? '127.0.0.1';
    const d = createDiscovery({ url: redisUrl, log: log.child({ component: 'discovery' }) });
    discovery = d;
    cluster = {
      discovery: d,
      address,
      agentUrl: tcp ? `http://${address}:${tcp.port}` : `unix://${agentSocketPath(paths)}`,
      labels: parseLabels(flags.labels ?? ''),
    };
  }
  const deny = denyList(flags.deny, redisUrl);
  const fetchAuth = agentFetchAuthFromEnv(env, flags.fetchAuthFile);
  const agent = await startAgent({ paths, tcp, log, capacity, importStack: flags.importStack, subnet: flags.subnet, cluster, deny, fetchAuth });
  // In a cluster each host ships its own containers' logs (and metrics) into the cluster's Redis.
  const shipper = redisUrl ? await startShipper({ agent: connectAgent({ socketPath: agent.socketPath }), redisUrl, host: hostname(), log }) : null;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping agent (containers keep running)');
    Promise.resolve(shipper?.close()).then(() => agent.close()).then(() => discovery?.close()).then(() => embedded?.stop()).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'agent close failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
