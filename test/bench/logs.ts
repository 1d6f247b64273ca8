// logs: lines per second from one chatty container (busybox `seq`, as fast as it writes) through
// the agent (a separate `slipway agent` process), the log shipper and the app's Redis Stream, out
// to a `follow` client of `GET /v1/apps/:app/logs` (controller and shipper in this process, as
// under `slipway up`). Baseline: `redis-benchmark -c 50 -n 200000 XADD key * f v` (50 clients,
// unpipelined) on the same Redis in the same run. Then follow latency (arrival − the monitor's
// timestamp) of a paced producer (~7,000 lines/s); pass = ratio ≥ 0.5 and p99 ≤ 250 ms.
import { spawnSync } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connectAgent } from '../../layer0/agent/index.ts';
import { startShipper } from '../../layer1/logs/shipper.ts';
import type { LogLine } from '../../layer1/logs/types.ts';
import { busyboxRootfsTar } from '../helpers/fixtures.ts';
import { startTestController } from '../helpers/controller.ts';
import { startTestRedis } from '../helpers/redis.ts';
import { startAgentProcess } from './agent-process.ts';
import { finish, percentile, table } from './report.ts';

/** CPU seconds a process has used (utime + stime from /proc). */
function cpuSec(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const N = Number(process.env.BENCH_LINES ?? 200_000);
const TARGET = 0.5;
const P99_MS = 250;

function xaddBaseline(socket: string): number {
  const r = spawnSync('redis-benchmark', ['-s', socket, '-c', '50', '-n', '200000', '-q', 'XADD', 'bench:xadd', '*', 'f', 'v'], { encoding: 'utf8', timeout: 120_000 });
  // `XADD bench:xadd * f v: 41234.57 requests per second, p50=…`; -q prints progress with \r first.
  const m = /([\d.]+) requests per second/.exec(r.stdout.split('\r').pop() ?? '');
  if (!m) throw new Error(`redis-benchmark: ${r.stderr || r.stdout}`);
  return Number(m[1]);
}

/** A follow request; calls `onLine` for each line with its arrival time. */
function follow(port: number, token: string, app: string, onLine: (l: LogLine, at: number) => void): { opened: Promise<void>; close(): void } {
  let close = () => {};
  const opened = new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/v1/apps/${app}/logs?follow=true&tail=0&source=app`, headers: { authorization: `Bearer ${token}` } }, (res) => {
      resolve();
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        const at = performance.timeOrigin + performance.now();
        let i: number;
        let start = 0;
        while ((i = buf.indexOf('\n', start)) >= 0) {
          // A blank line is the follow's keep-alive.
          if (i > start) onLine(JSON.parse(buf.slice(start, i)) as LogLine, at);
          start = i + 1;
        }
        buf = buf.slice(start);
      });
      res.on('error', () => undefined);
    });
    req.on('error', reject);
    req.end();
    close = () => req.destroy();
  });
  return { opened, close: () => close() };
}

const redis = await startTestRedis();
const agentProc = await startAgentProcess();
const ctl = await startTestController({ redis });
const agent = connectAgent({ socketPath: agentProc.socket });
const shipper = await startShipper({ agent, redisUrl: redis.url, keyPrefix: ctl.controller.store.keys.prefix, metricsIntervalMs: 0 });
try {
  await agent.importImage(createReadStream(await busyboxRootfsTar(agentProc.dir)), { repo: 'bb', tag: '1' });
  const baseline = xaddBaseline(redis.socketPath);
  await redis.connect().del('bench:xadd');
  const made = await ctl.request('POST', '/v1/apps', { token: ctl.adminToken, body: { name: 'chatty' } });
  const appId = made.body.id as string;
  const start = async (script: string) => {
    const id = await agent.createContainer({ Image: 'bb:1', Cmd: ['sh', '-c', script], Labels: { 'slipway.app': 'chatty', 'slipway.app-id': appId, 'slipway.type': 'web', 'slipway.index': '1', 'slipway.release': 'v1' } } as never);
    await agent.startContainer(id);
    return id;
  };

  // 1. Throughput: N lines written as fast as `seq` writes them.
  let got = 0;
  let first = 0;
  let last = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((r) => (done = r));
  const f1 = follow(ctl.port, ctl.adminToken, 'chatty', (l, at) => {
    if (!l.message.startsWith('line ')) return;
    if (!got) first = at;
    got++;
    last = at;
    if (got === N) done();
  });
  await f1.opened;
  const cpu0 = { agent: cpuSec(agentProc.pid), self: cpuSec(process.pid), redis: cpuSec(redis.server.pid) };
  const t0 = performance.timeOrigin + performance.now();
  const c1 = await start(`seq 1 ${N} | sed 's/^/line /'`);
  let exitedAt = 0;
  void agent.waitContainer(c1).then(() => (exitedAt = performance.timeOrigin + performance.now()));
  await Promise.race([all, agent.waitContainer(c1).then(() => new Promise((r) => setTimeout(r, 60_000)))]);
  f1.close();
  const cpu = { agent: cpuSec(agentProc.pid) - cpu0.agent, self: cpuSec(process.pid) - cpu0.self, redis: cpuSec(redis.server.pid) - cpu0.redis };
  const value = got / ((last - t0) / 1000);
  await agent.removeContainer(c1, true);

  // 2. Follow latency at a paced rate.
  const lat: number[] = [];
  const f2 = follow(ctl.port, ctl.adminToken, 'chatty', (l, at) => {
    if (l.message.startsWith('paced ')) lat.push(at - Date.parse(l.time));
  });
  await f2.opened;
  const c2 = await start('i=0; while [ $i -lt 500 ]; do j=0; while [ $j -lt 100 ]; do echo "paced $i $j"; j=$((j+1)); done; i=$((i+1)); sleep 0.01; done');
  await agent.waitContainer(c2);
  await new Promise((r) => setTimeout(r, 1000));
  f2.close();
  await agent.removeContainer(c2, true);
  const pacedSec = lat.length ? lat.length / 7000 : 0;
  const p50 = percentile(lat, 50);
  const p99 = percentile(lat, 99);
  const ratio = value / baseline;

  console.log(table([
    ['what', 'value'],
    ['lines (burst)', `${got} of ${N}`],
    ['first line after start (ms)', (first - t0).toFixed(0)],
    ['container done writing after (ms)', (exitedAt - t0).toFixed(0)],
    ['lines/s container → shipper → stream → follow', value.toFixed(0)],
    ['baseline: redis-benchmark XADD/s (50 clients)', baseline.toFixed(0)],
    ['ratio', ratio.toFixed(2)],
    ['CPU s during the burst: agent / shipper+API / redis', `${cpu.agent.toFixed(1)} / ${cpu.self.toFixed(1)} / ${cpu.redis.toFixed(1)} (${((last - t0) / 1000).toFixed(1)} s)`],
    ['paced lines followed', `${lat.length} (~${pacedSec.toFixed(1)} s)`],
    ['follow latency p50 (ms)', (p50 ?? NaN).toFixed(1)],
    ['follow latency p99 (ms)', (p99 ?? NaN).toFixed(1)],
    ['shipper: written / batches / dropped', `${shipper.stats().written} / ${shipper.stats().batches} / ${shipper.stats().dropped}`],
  ]));
  finish({
    bench: 'logs', metric: 'lines/s', value: Math.round(value), baseline: Math.round(baseline), ratio: Math.round(ratio * 100) / 100, target: TARGET, unit: 'lines/s',
    pass: got === N && ratio >= TARGET && (p99 ?? Infinity) <= P99_MS,
  });
} finally {
  await shipper.close();
  await ctl.close();
  await agentProc.stop();
  await redis.cleanup();
}
