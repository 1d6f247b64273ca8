// A real host agent for tests: fresh SLIPWAY_HOME/SLIPWAY_RUN, a test prefix, the agent in
// process or as `node bin/slipway.js agent`, a docker CLI runner with a timeout on every call
// (hangs are the usual bug), and a clean-up that fails when anything with the prefix is left.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type RunningAgent } from '../../layer0/agent/daemon.ts';
import { silentLogger } from '../../layer0/common/logger.ts';
import type { SlipwayPaths } from '../../layer0/common/paths.ts';
import { cleanupByPrefix } from '../../layer0/network/index.ts';
import { removeCgroupParent } from '../../layer0/runtime/index.ts';
import { busyboxRootfsTar } from './fixtures.ts';
import { findLeaks } from './leaks.ts';
import { testPrefix } from './runtime.ts';

export const DOCKER = '/usr/local/bin/docker';
const BIN = fileURLToPath(new URL('../../bin/slipway.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface TestAgent {
  paths: SlipwayPaths;
  socketPath: string;
  tcpPort?: number;
  dir: string;
  /** The busybox rootfs tar (not imported yet). */
  busyboxTar: string;
  /** `docker -H unix://SOCK ...args`; never throws; kills the CLI after `timeoutMs`. */
  docker(args: string[], opts?: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv }): Promise<CliResult>;
  /** Child agents only: the agent process's pid. */
  pid(): number | undefined;
  /** Child agents only: SIGKILL the agent (containers keep running), then start a new one. */
  killAgent(): Promise<void>;
  startAgentAgain(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface TestAgentOptions {
  /** Run `node bin/slipway.js agent` as a child instead of in this process. */
  child?: boolean;
  tcp?: { port: number; token: string };
  /** One or two characters appended to the suite prefix. */
  suffix?: string;
  /** In-process agents: import the default stack (`slipway/stack:bookworm`) before serving. */
  importStack?: boolean;
}

function run(file: string, args: string[], opts: { timeoutMs: number; input?: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20, env: opts.env }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

/** Waits until the agent answers /_ping (a stale socket file from a killed agent does not count). */
async function waitForSocket(path: string, child: ChildProcess, ms: number): Promise<void> {
  const end = Date.now() + ms;
  const ping = () =>
    new Promise<boolean>((resolve) => {
      const req = request({ socketPath: path, path: '/_ping', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  while (!(existsSync(path) && (await ping()))) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}`);
    if (Date.now() > end) throw new Error(`agent not serving ${path} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startTestAgent(opts: TestAgentOptions = {}): Promise<TestAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'slwt-agent-'));
  const paths: SlipwayPaths = {
    home: join(dir, 'home'), run: join(dir, 'run'),
    cache: process.env.SLIPWAY_CACHE ?? '/var/cache/slipway', prefix: testPrefix(opts.suffix),
  };
  const busyboxTar = await busyboxRootfsTar(dir);
  let agent: RunningAgent | null = null;
  let child: ChildProcess | null = null;
  const socketPath = join(paths.run, 'agent.sock');
  let tcpPort: number | undefined;
  const spawnChild = async () => {
    const env = { ...process.env, SLIPWAY_HOME: paths.home, SLIPWAY_RUN: paths.run, SLIPWAY_CACHE: paths.cache, SLIPWAY_PREFIX: paths.prefix, SLIPWAY_AGENT_TOKEN: opts.tcp?.token };
    const args = [BIN, 'agent', ...(opts.tcp ? ['--tcp', `127.0.0.1:${opts.tcp.port}`] : [])];
    child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    await waitForSocket(socketPath, child, 10_000);
    tcpPort = opts.tcp?.port;
  };
  if (opts.child) {
    await spawnChild();
  } else {
    agent = await startAgent({ paths, log: silentLogger, tcp: opts.tcp ? { host: '127.0.0.1', ...opts.tcp } : undefined, ...(opts.importStack ? { importStack: 'await' as const } : {}) });
    tcpPort = agent.tcpPort;
  }
  const docker: TestAgent['docker'] = (args, o = {}) =>
    run(DOCKER, ['-H', `unix://${socketPath}`, ...args], { timeoutMs: o.timeoutMs ?? 20_000, input: o.input, env: { ...process.env, ...o.env } });

  return {
    paths, socketPath, tcpPort, dir, busyboxTar, docker,
    pid: () => child?.pid,
    async killAgent() {
      const c = child;
      if (!c || c.exitCode !== null) throw new Error('no child agent running');
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    },
    async startAgentAgain() {
      if (!opts.child) throw new Error('startAgentAgain needs a child agent');
      await spawnChild();
    },
    async cleanup() {
      const ids = (await docker(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
      for (const id of ids) await docker(['rm', '-f', id]);
      if (agent) await agent.close();
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await cleanupByPrefix(paths.prefix);
      removeCgroupParent(paths.prefix);
      const leaks = await findLeaks(paths.prefix, { runcRoots: [join(paths.run, 'runc')] });
      rmSync(dir, { recursive: true, force: true });
      if (leaks.length) throw new Error(`leaked resources:\n${leaks.join('\n')}`);
    },
  };
}
