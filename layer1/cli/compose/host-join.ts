// Composition root of `slipway host join`: this machine becomes a host of a remote cluster.
// Runs `slipway agent --cluster`, a `slipway scheduler` standby and a `slipway router` (so this
// host takes app traffic too) as children in the foreground; SIGTERM/SIGINT stops them all (the
// agent's containers keep running).
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createLogger } from '../../../layer0/common/logger.ts';

const BIN = join(resolve(import.meta.dirname, '../../..'), 'bin/slipway.js');

export interface HostJoinFlags {
  redis?: string;
  tokenFile: string;
  advertise: string;
  tcp?: string;
  subnet?: string;
  memory?: string;
  cpus?: string;
  labels?: string;
  importStack?: boolean;
  /** false with --no-scheduler. */
  scheduler?: boolean;
  /** false with --no-router. */
  router?: boolean;
  /** Where the router listens (default: the advertised address). */
  routerBind?: string;
  /** Passed to the agent: `<origin> <token>` lines for slug fetches from the blobstore. */
  fetchAuthFile?: string;
}

/** The agent's, the scheduler's and the router's argv (after `node bin/slipway.js`). */
export function joinArgs(f: HostJoinFlags): { agent: string[]; scheduler: string[]; router: string[] } {
  const tokenFile = resolve(f.tokenFile);
  const agent = [
    'agent', '--cluster', '--advertise', f.advertise, '--tcp', f.tcp ?? `${f.advertise}:2375`, '--token-file', tokenFile,
    ...(f.subnet ? ['--subnet', f.subnet] : []), ...(f.memory ? ['--memory', f.memory] : []),
    ...(f.cpus ? ['--cpus', f.cpus] : []), ...(f.labels ? ['--labels', f.labels] : []),
    ...(f.importStack ? ['--import-stack'] : []), ...(f.fetchAuthFile ? ['--fetch-auth-file', resolve(f.fetchAuthFile)] : []),
  ];
  // ports and domain from the environment (SLIPWAY_HTTP_PORT, ...), as `slipway up` takes them
  return { agent, scheduler: ['scheduler', '--token-file', tokenFile], router: ['router', '--bind', f.routerBind ?? f.advertise] };
}

export async function hostJoin(flags: HostJoinFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const log = createLogger('host-join');
  const url = flags.redis ?? env.SLIPWAY_REDIS_URL;
  if (!url) throw new Error('host join needs the cluster\'s Redis: --redis URL (or SLIPWAY_REDIS_URL)');
  // The URL carries the password: hand it down in the environment, not in argv (`ps`).
  const childEnv = { ...env, SLIPWAY_REDIS_URL: url };
  const args = joinArgs(flags);
  const start = (argv: string[]) => spawn(process.execPath, [BIN, ...argv], { env: childEnv, stdio: ['ignore', 'inherit', 'inherit'] });
  const children: ChildProcess[] = [start(args.agent)];
  if (flags.scheduler !== false) children.push(start(args.scheduler));
  if (flags.router !== false) children.push(start(args.router));
  log.info({ advertise: flags.advertise, pids: children.map((c) => c.pid) }, 'joining the cluster');

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
    const timer = setTimeout(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')), 10_000);
    timer.unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // When one of them ends, the host has left: stop the other too and report the agent's status.
  const exits = children.map((c) => new Promise<number>((r) => c.once('exit', (code, sig) => r(code ?? (sig ? 1 : 0)))));
  await Promise.race(exits);
  stop('SIGTERM');
  const [agentCode] = await Promise.all(exits);
  process.exitCode = stopping && agentCode === 0 ? 0 : agentCode;
}
