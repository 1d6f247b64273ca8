// api-latency: `GET /v1/apps/:app` with a valid token (a view-role user's), open loop at a fixed
// rate (BENCH_RATE, default 2000 req/s) for BENCH_SECONDS (default 10) after BENCH_WARMUP
// (default 2) seconds, from a separate load process (load.ts) over BENCH_CONNECTIONS (default
// 64) keep-alive sockets. Baseline: a bare Node http server, its own process, answering the
// same JSON body (the app's, fetched once), loaded by the same generator in the same run; the
// sides alternate for BENCH_ROUNDS rounds (default 1: bare, then API). Latency counts from each
// request's scheduled send time (coordinated omission corrected). Target: API p99 ≤ 5 ms.
// Run: `npm run bench -- api-latency` or `npx tsx test/bench/api-latency.ts`.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { send } from '../helpers/controller.ts';
import type { LoadOptions, LoadResult } from './load.ts';
import { finish, table } from './report.ts';

const RATE = Number(process.env.BENCH_RATE ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const TARGET_MS = 5;
const HERE = import.meta.dirname;

const children = new Set<ChildProcess>();

/** A tsx script as its own process (one pid: node --import tsx, no wrapper). */
function spawnTs(file: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, file), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** The child's first stdout line as JSON (the process must print it before exiting). */
function firstLine<T>(child: ChildProcess, what: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`${what}: no output after ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null) => reject(new Error(`${what} exited (${code}) before printing its result`));
    child.once('exit', onExit);
    rl.once('line', (line) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      rl.close();
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(new Error(`${what}: bad output ${line}`));
      }
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid!, 'SIGTERM');
  const t = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(child.pid!, 'SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

/** utime + stime of a process, ms (from /proc; clock ticks at 100 Hz). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

interface Side {
  name: string;
  port: number;
  headers: Record<string, string>;
  pids: number[];
}

interface Run extends LoadResult {
  /** CPU of the server side's processes during the load run, ms per second of wall time. */
  serverCpu: number[];
}

async function load(side: Side): Promise<Run> {
  const opts: LoadOptions = { port: side.port, path: `/v1/apps/bench-app`, headers: side.headers, rate: RATE, seconds: SECONDS, warmupSeconds: WARMUP, connections: CONNECTIONS };
  const cpu0 = side.pids.map(cpuMs);
  const t0 = performance.now();
  const child = spawnTs('load.ts', [JSON.stringify(opts)]);
  const r = await firstLine<LoadResult>(child, `load (${side.name})`, (SECONDS + WARMUP) * 1000 + 30_000);
  await new Promise((res) => (child.exitCode === null ? child.once('exit', res) : res(null)));
  const wall = (performance.now() - t0) / 1000;
  return { ...r, serverCpu: side.pids.map((pid, k) => (cpuMs(pid) - cpu0[k]) / wall) };
}

/** Several runs of one side as one: latencies cannot be merged exactly from summaries, so the worst run's percentiles are reported. */
function combine(runs: Run[]): Run {
  if (runs.length === 1) return runs[0];
  const worst = (k: keyof LoadResult) => Math.max(...runs.map((r) => r[k] as number));
  const sum = (k: keyof LoadResult) => runs.reduce((a, r) => a + (r[k] as number), 0);
  const errorKinds: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
  return {
    ...runs[0],
    scheduled: sum('scheduled'), completed: sum('completed'), errors: sum('errors'), errorKinds,
    achievedRate: Math.min(...runs.map((r) => r.achievedRate)), sentRate: Math.min(...runs.map((r) => r.sentRate)),
    p50: worst('p50'), p90: worst('p90'), p99: worst('p99'), p999: worst('p999'), max: worst('max'), mean: sum('mean') / runs.length,
    sendLagP50: worst('sendLagP50'), sendLagP99: worst('sendLagP99'), sendLagMax: worst('sendLagMax'), cpu: worst('cpu'),
    serverCpu: runs[0].serverCpu.map((_, k) => Math.max(...runs.map((r) => r.serverCpu[k]))),
  };
}

const onSignal = () => void Promise.all([...children].map(stop)).finally(() => process.exit(130));
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const servers: ChildProcess[] = [];
try {
  const apiProc = spawnTs('api-server.ts', ['api']);
  servers.push(apiProc);
  const api = await firstLine<{ port: number; token: string; app: string; pid: number; redisPid: number }>(apiProc, 'api-server', 60_000);
  const headers = { authorization: `Bearer ${api.token}` };
  const shown = await send(api.port, 'GET', `/v1/apps/${api.app}`, { headers });
  if (shown.status !== 200) throw new Error(`GET /v1/apps/${api.app}: ${shown.status} ${shown.text}`);

  const bareProc = spawnTs('api-server.ts', ['bare', shown.text]);
  servers.push(bareProc);
  const bare = await firstLine<{ port: number; pid: number }>(bareProc, 'bare server', 30_000);
  const echoed = await send(bare.port, 'GET', `/v1/apps/${api.app}`, { headers });
  if (echoed.status !== 200 || echoed.text !== shown.text) throw new Error(`the bare server answers ${echoed.status} ${echoed.text}`);

  const sides = {
    bare: { name: 'bare node http', port: bare.port, headers, pids: [bare.pid] },
    api: { name: 'controller API', port: api.port, headers, pids: [api.pid, api.redisPid] },
  };
  const runs: { bare: Run[]; api: Run[] } = { bare: [], api: [] };
  for (let k = 0; k < ROUNDS; k++) {
    runs.bare.push(await load(sides.bare));
    runs.api.push(await load(sides.api));
  }
  const b = combine(runs.bare);
  const a = combine(runs.api);
  const row = (name: string, r: Run) => [
    name, r.p50, r.p90, r.p99, r.p999, r.max, r.achievedRate.toFixed(0), `${r.errors}${r.errors ? ` ${JSON.stringify(r.errorKinds)}` : ''}`,
    r.sendLagP99, r.cpu * 100, r.serverCpu.map((c) => `${(c / 10).toFixed(0)}%`).join('+'), r.sockets,
  ];
  console.log(table([
    ['side', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'achieved req/s', 'errors', 'gen lag p99 ms', 'gen cpu %', 'server cpu', 'sockets opened'],
    row('bare node http', b),
    row('controller API', a),
  ]));
  console.log(`${RATE} req/s open loop, ${WARMUP} s warm-up + ${SECONDS} s measured per side, ${ROUNDS} round(s), ${CONNECTIONS} keep-alive sockets max; ` +
    `latency from the scheduled send time; server cpu = % of one core (API: controller + redis); ratio p50 ${(a.p50 / b.p50).toFixed(2)}, p99 ${(a.p99 / b.p99).toFixed(2)}`);
  const value = +a.p99.toFixed(3);
  const baseline = +b.p99.toFixed(3);
  const ok = a.errors === 0 && a.achievedRate >= RATE * 0.98;
  finish({ bench: 'api-latency', metric: `p99 GET /v1/apps/:app at ${RATE} req/s`, value, baseline, ratio: +(value / baseline).toFixed(3), target: TARGET_MS, unit: 'ms', pass: value <= TARGET_MS && ok });
} finally {
  await Promise.all([...children].map(stop));
}
