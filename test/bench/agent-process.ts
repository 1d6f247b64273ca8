// Starts `slipway agent` as a child process with its own home, run dir and prefix, for
// benchmarks that must measure the agent as users run it; stop() ends it by pid and cleans up.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cleanupByPrefix } from '../../layer0/network/index.ts';
import { removeCgroupParent } from '../../layer0/runtime/index.ts';
import { testPrefix } from '../helpers/runtime.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export interface AgentProcess {
  socket: string;
  pid: number;
  dir: string;
  prefix: string;
  rssKiB(): number;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

export async function startAgentProcess(): Promise<AgentProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'slwt-bench-'));
  const prefix = testPrefix('b');
  const env = { ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: prefix, SLIPWAY_LOG_LEVEL: 'warn' };
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin/slipway.js'), 'agent'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const socket = join(dir, 'run', 'agent.sock');
  const agentHttp = new (await import('node:http')).Agent({ keepAlive: true });
  const call = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; body: string }>((res, rej) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request({ socketPath: socket, method, path, agent: agentHttp, headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {} }, (r) => {
        let s = '';
        r.on('data', (d) => (s += d));
        r.on('end', () => res({ status: r.statusCode ?? 0, body: s }));
      });
      req.on('error', rej);
      req.end(data);
    });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (existsSync(socket) && (await call('GET', '/_ping').then((r) => r.status === 200, () => false))) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('the agent did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socket,
    pid: child.pid!,
    dir,
    prefix,
    call,
    rssKiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0),
    async stop() {
      const list = JSON.parse((await call('GET', '/containers/json?all=1')).body) as { Id: string }[];
      for (const c of list) await call('DELETE', `/containers/${c.Id}?force=1`);
      agentHttp.destroy();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await cleanupByPrefix(prefix);
      removeCgroupParent(prefix);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
