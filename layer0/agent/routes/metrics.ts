// Per-container resource samples, read from the cgroups every few seconds by one timer (not per
// request): `GET /slipway/metrics` (JSON, every container at once, for layer 1's collectors) and
// `GET /metrics` (Prometheus text). CPU % is the share of one CPU between the last two samples.
import type { ContainerRecord, ContainerStats } from '../../runtime/types.ts';
import { memoryLimitOf } from '../docker-views.ts';
import type { ContainerMetrics } from '../types.ts';
import { sendJson } from '../http.ts';
import type { Route } from '../router.ts';
import type { AgentDeps } from './deps.ts';

interface Sample {
  at: number;
  stats: ContainerStats;
  cpuPercent: number;
}

export interface MetricsSampler {
  routes: Route[];
  /** A running container's newest sample (at most an interval old): Docker's stats take it as the previous one. */
  latest(id: string): ContainerStats | undefined;
  close(): void;
}

export const METRICS_INTERVAL_MS = 2000;

export function metricsSampler(d: AgentDeps, intervalMs = METRICS_INTERVAL_MS): MetricsSampler {
  const samples = new Map<string, Sample>();
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const seen = new Set<string>();
      for (const rec of d.runtime.list()) {
        if (rec.state.status !== 'running') continue;
        seen.add(rec.id);
        const s = await d.runtime.stats(rec.id).catch(() => null);
        if (!s) continue;
        const at = performance.now();
        const prev = samples.get(rec.id);
        const cpuPercent = prev && at > prev.at && s.cpuTotalNs >= prev.stats.cpuTotalNs ? ((s.cpuTotalNs - prev.stats.cpuTotalNs) / ((at - prev.at) * 1e6)) * 100 : 0;
        samples.set(rec.id, { at, stats: s, cpuPercent: Math.round(cpuPercent * 10) / 10 });
      }
      for (const id of samples.keys()) if (!seen.has(id)) samples.delete(id);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick().catch((err) => d.log.warn({ err }, 'metrics sample failed')), intervalMs);
  timer.unref();
  void tick();

  const view = (rec: ContainerRecord): ContainerMetrics => {
    const sample = rec.state.status === 'running' ? samples.get(rec.id) : undefined;
    const s = sample?.stats;
    return {
      id: rec.id, name: rec.spec.name ?? '', labels: rec.spec.labels ?? {}, status: rec.state.status, startedAt: rec.state.startedAt ?? '',
      restartCount: rec.state.restartCount, oomKilled: rec.state.oomKilled, exitCode: rec.state.exitCode,
      read: s?.read ?? '', cpuPercent: sample?.cpuPercent ?? 0, cpuTotalNs: s?.cpuTotalNs ?? 0,
      memoryUsage: s?.memoryUsage ?? 0, memoryLimit: s ? memoryLimitOf(s.memoryLimit, d.capacity.memory) : 0, pids: s?.pids ?? 0,
    };
  };

  const prometheus = (): string => {
    const all = d.runtime.list().map(view);
    const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
    const lbl = (m: ContainerMetrics) => `{id="${m.id.slice(0, 12)}",name="${esc(m.name)}"}`;
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, value: (m: ContainerMetrics) => number, running = true) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const m of all) if (!running || m.status === 'running') out.push(`${name}${lbl(m)} ${value(m)}`);
    };
    out.push('# HELP slipway_agent_containers Containers on this host by state.', '# TYPE slipway_agent_containers gauge');
    const states = new Map<string, number>();
    for (const m of all) states.set(m.status, (states.get(m.status) ?? 0) + 1);
    for (const [s, n] of states) out.push(`slipway_agent_containers{state="${s}"} ${n}`);
    metric('slipway_container_cpu_percent', 'gauge', 'CPU use over the last sample interval, percent of one CPU.', (m) => m.cpuPercent);
    metric('slipway_container_cpu_seconds_total', 'counter', 'CPU time used (cgroup cpuacct).', (m) => m.cpuTotalNs / 1e9);
    metric('slipway_container_memory_bytes', 'gauge', 'Memory in use (cgroup memory.usage_in_bytes).', (m) => m.memoryUsage);
    metric('slipway_container_memory_limit_bytes', 'gauge', 'Memory limit (the host memory when none).', (m) => m.memoryLimit);
    metric('slipway_container_restarts_total', 'counter', 'Restarts by the restart policy.', (m) => m.restartCount, false);
    return `${out.join('\n')}\n`;
  };

  return {
    routes: [
      { method: 'GET', path: '/slipway/metrics', handler: ({ res }) => sendJson(res!, 200, d.runtime.list().map(view)) },
      {
        method: 'GET', path: '/metrics', handler: ({ res }) => {
          const body = prometheus();
          res!.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
          res!.end(body);
        },
      },
    ],
    latest: (id) => samples.get(id)?.stats,
    close: () => clearInterval(timer),
  };
}
