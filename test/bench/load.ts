// An open-loop HTTP load generator, run as its own process by the api-latency bench.
// Requests are scheduled at fixed intervals (1/rate) whatever the responses do, and each
// latency is measured from the request's *scheduled* send time, so a stall of the server (or
// of this process) shows in the latencies instead of silently lowering the rate (coordinated
// omission). Requests go over a pool of keep-alive connections (http.Agent, maxSockets).
// Usage: node --import tsx test/bench/load.ts '<json LoadOptions>' → one JSON LoadResult line.
import { Agent, request } from 'node:http';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

export interface LoadOptions {
  port: number;
  path: string;
  headers?: Record<string, string>;
  /** Requests per second. */
  rate: number;
  /** Measured seconds, after `warmupSeconds` of the same load that are not counted. */
  seconds: number;
  warmupSeconds: number;
  /** Keep-alive sockets in the pool. */
  connections: number;
  /** A response later than this (from its scheduled time) is an error. */
  timeoutMs?: number;
  /** The expected status (default 200); any other is an error. */
  expectStatus?: number;
}

export interface LoadResult {
  scheduled: number;
  completed: number;
  errors: number;
  errorKinds: Record<string, number>;
  /** Measured responses with the expected status / (last completion − first scheduled time). */
  achievedRate: number;
  /** Measured requests handed to the socket pool / the same window. */
  sentRate: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  /** How late this process sent requests (actual − scheduled send time), ms. */
  sendLagP50: number;
  sendLagP99: number;
  sendLagMax: number;
  /** CPU time of this process (both threads) during the run / wall time (1 = one core). */
  cpu: number;
  /** Distinct sockets that carried a response (the server closes idle ones after 5 s; the pool reopens). */
  sockets: number;
}

/** The clock thread: one message per scheduled send time (times on the shared epoch clock). */
const CLOCK = `
const { parentPort, workerData: { t0, interval, total } } = require('node:worker_threads');
const cell = new Int32Array(new SharedArrayBuffer(4));
const now = () => performance.timeOrigin + performance.now();
for (let k = 0; k < total; k++) {
  const wait = t0 + k * interval - now();
  if (wait > 0) Atomics.wait(cell, 0, 0, wait);
  parentPort.postMessage(k);
}
`;

function pct(sorted: Float64Array, p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const expect = o.expectStatus ?? 200;
  const interval = 1000 / o.rate;
  const warm = Math.round(o.warmupSeconds * o.rate);
  const total = warm + Math.round(o.seconds * o.rate);
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections, maxFreeSockets: o.connections, keepAliveMsecs: 1000 });
  const sockets = new Set<unknown>();
  const latency = new Float64Array(total).fill(NaN);
  const lag = new Float64Array(total);
  const errorKinds: Record<string, number> = {};
  let outstanding = 0;
  let lastDone = 0;
  let lastSent = 0;
  let allDone!: () => void;
  const drained = new Promise<void>((r) => (allDone = r));
  let scheduling = true;
  const fail = (kind: string, i: number) => {
    if (i >= warm) errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };
  const settle = () => {
    outstanding--;
    if (!scheduling && outstanding === 0) allDone();
  };

  const fire = (i: number, sched: number) => {
    const sent = performance.now();
    lag[i] = sent - sched;
    lastSent = sent;
    outstanding++;
    let settled = false;
    const req = request({ agent, host: '127.0.0.1', port: o.port, path: o.path, headers: o.headers }, (res) => {
      sockets.add(res.socket);
      res.on('data', () => {});
      res.on('end', () => {
        if (settled) return;
        settled = true;
        const now = performance.now();
        if (res.statusCode === expect) {
          if (now - sched > timeoutMs) fail('timeout', i);
          else latency[i] = now - sched;
          if (i >= warm) lastDone = now;
        } else fail(`status ${res.statusCode}`, i);
        settle();
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      fail(err.code ?? err.message, i);
      settle();
    });
    req.end();
  };

  const cpu0 = process.cpuUsage();
  const t0 = performance.now() + 50;
  let i = 0;
  // Two clocks wake the sender, which sends every request that is due: the event loop's timers
  // (1 ms resolution: alone, a 0.5 ms interval gave a median send lag of 0.6 ms, most of a bare
  // server's latency) and a worker thread that sleeps to each scheduled time with Atomics.wait
  // (sub-millisecond, no spinning, but with a longer tail of late wake-ups on a busy machine).
  const clock = new Worker(CLOCK, { eval: true, workerData: { t0: performance.timeOrigin + t0, interval, total } });
  clock.unref();
  await new Promise<void>((done, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const pump = () => {
      const now = performance.now();
      while (i < total && t0 + i * interval <= now) {
        fire(i, t0 + i * interval);
        i++;
      }
      clearTimeout(timer);
      if (i < total) timer = setTimeout(pump, Math.max(0, t0 + i * interval - performance.now()));
      else done();
    };
    clock.on('message', pump);
    clock.once('error', reject);
    timer = setTimeout(pump, Math.max(0, t0 - performance.now()));
  });
  await clock.terminate();
  scheduling = false;
  const tEnd = t0 + total * interval;
  if (outstanding > 0) {
    await Promise.race([drained, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }
  const wall = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  agent.destroy();

  const measured: number[] = [];
  const lags: number[] = [];
  for (let k = warm; k < total; k++) {
    lags.push(lag[k]);
    if (!Number.isNaN(latency[k])) measured.push(latency[k]);
  }
  const scheduled = total - warm;
  const recorded = Object.values(errorKinds).reduce((a, b) => a + b, 0);
  // Neither answered in time nor failed: still outstanding after the drain window.
  const unanswered = scheduled - measured.length - recorded;
  if (unanswered > 0) errorKinds['no response'] = unanswered;
  const lat = Float64Array.from(measured).sort();
  const lg = Float64Array.from(lags).sort();
  const firstSched = t0 + warm * interval;
  const window = Math.max(lastDone, tEnd) - firstSched;
  return {
    scheduled,
    completed: measured.length,
    errors: scheduled - measured.length,
    errorKinds,
    achievedRate: (measured.length / window) * 1000,
    sentRate: (scheduled / (Math.max(lastSent, tEnd - interval) - firstSched + interval)) * 1000,
    p50: pct(lat, 50),
    p90: pct(lat, 90),
    p99: pct(lat, 99),
    p999: pct(lat, 99.9),
    max: lat.length ? lat[lat.length - 1] : NaN,
    mean: measured.reduce((a, b) => a + b, 0) / (measured.length || 1),
    sendLagP50: pct(lg, 50),
    sendLagP99: pct(lg, 99),
    sendLagMax: lg.length ? lg[lg.length - 1] : NaN,
    cpu: (c.user + c.system) / 1000 / wall,
    sockets: sockets.size,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opts = JSON.parse(process.argv[2] ?? '') as LoadOptions;
  const r = await runLoad(opts);
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}
