// Pure functions from API records to what the views show: the state of a process and of an
// app (a colour class and words, never colour alone), the caller's role on an app, sparklines
// (inline SVG, no script), log lines, and tolerant readers for metrics samples.
import { atLeast, weaker, type Role } from '../layer1/controller/auth/roles.ts';
import type { AppRole } from '../layer1/controller/types.ts';
import type { LogLine } from '../layer1/logs/types.ts';

export type Tone = 'ok' | 'warn' | 'bad' | 'idle';
export interface State {
  tone: Tone;
  label: string;
}

export interface Process {
  id: string;
  type: string;
  state: string;
  reason: string;
  host: string | null;
  address: string | null;
  registered: boolean;
  restarts: number;
  exitCode: number | null;
  release: string;
  startedAt: string;
}

export function processState(p: Pick<Process, 'state' | 'exitCode' | 'registered' | 'type'>): State {
  switch (p.state) {
    case 'running':
      return { tone: 'ok', label: 'running' };
    case 'pending':
      return { tone: 'warn', label: 'pending' };
    case 'starting':
      return { tone: 'warn', label: 'starting' };
    case 'stopping':
      return { tone: 'idle', label: 'stopping' };
    case 'restarting':
      return { tone: 'bad', label: 'crashed, restarting' };
    case 'exited':
      return p.exitCode === 0 ? { tone: 'idle', label: 'exited' } : { tone: 'bad', label: `crashed${p.exitCode === null ? '' : ` (exit ${p.exitCode})`}` };
    default:
      return { tone: 'idle', label: p.state };
  }
}

/** An app's state from its processes: crashed beats starting beats running. */
export function appState(processes: Pick<Process, 'state' | 'exitCode' | 'registered' | 'type'>[], hasRelease: boolean, lastDeploy?: string): State {
  if (!hasRelease) return { tone: 'idle', label: 'not deployed' };
  if (processes.length === 0) return lastDeploy === 'failed' ? { tone: 'bad', label: 'deploy failed' } : { tone: 'idle', label: 'no processes' };
  const tones = processes.map((p) => processState(p).tone);
  if (tones.includes('bad')) return { tone: 'bad', label: 'crashed' };
  if (tones.includes('warn')) return { tone: 'warn', label: 'starting' };
  if (tones.every((t) => t === 'ok')) return { tone: 'ok', label: 'running' };
  // Old processes stopping beside running ones: a rollout or a scale-down in progress.
  if (tones.includes('ok')) return { tone: 'warn', label: 'updating' };
  return { tone: 'idle', label: 'stopping' };
}

export function deploymentState(state: string): State {
  const tone: Tone = state === 'succeeded' ? 'ok' : state === 'failed' ? 'bad' : state === 'running' || state === 'queued' ? 'warn' : 'idle';
  return { tone, label: state };
}

/** A release's state; `current` is the newest deployed one (older deployed ones are history). */
export function releaseState(status: string, current: boolean): State {
  if (current) return { tone: 'ok', label: 'current' };
  const tone: Tone = status === 'failed' ? 'bad' : status === 'pending' ? 'warn' : 'idle';
  return { tone, label: status === 'pending' ? 'rolling out' : status === 'deployed' ? 'previous' : status };
}

/** The version of the newest deployed release of a newest-first list. */
export function currentVersion(releases: { version: number; status: string }[]): number | undefined {
  return releases.find((r) => r.status === 'deployed')?.version;
}

/** The caller's role on an app: the weaker of the user's (admins: admin) and the token's. */
export function effectiveRole(user: { admin: boolean; tokenRole: Role }, grant: AppRole | null): Role | null {
  const mine = user.admin ? 'admin' : grant;
  return mine === null ? null : weaker(mine, user.tokenRole);
}

/** Whether a role reaches `needed` (the API's own rule). */
export { atLeast as can };

/** A small line chart as inline SVG (presentation attributes only: the CSP forbids inline styles). */
export function sparkline(values: number[], label: string, unit: string, w = 96, h = 24): string {
  if (values.length < 2) return '<span class="spark-none">–</span>';
  const max = Math.max(...values) || 1;
  const step = w / (values.length - 1);
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`).join(' ');
  const last = values[values.length - 1]!;
  const text = `${label}: ${format(last, unit)} now, peak ${format(max, unit)}`;
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeAttr(text)}"><title>${escapeAttr(text)}</title>`
    + `<polyline fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round" points="${pts}"/></svg>`
    + `<span class="spark-value">${escapeAttr(format(last, unit))}</span>`;
}

function format(v: number, unit: string): string {
  if (unit === 'bytes') {
    if (v >= 1024 ** 3) return `${(v / 1024 ** 3).toFixed(1)} GiB`;
    if (v >= 1024 ** 2) return `${(v / 1024 ** 2).toFixed(0)} MiB`;
    if (v >= 1024) return `${(v / 1024).toFixed(0)} KiB`;
    return `${Math.round(v)} B`;
  }
  if (unit === '%') return `${v < 10 ? v.toFixed(1) : Math.round(v)}%`;
  return `${Math.round(v * 100) / 100}${unit}`;
}

function escapeAttr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A log line as the logs page shows it. */
export interface ShownLine {
  id: string;
  at: string;
  /** The process (web.1), `slipway` (the platform's lines) or `router`. */
  source: string;
  /** stdout or stderr (the app's output), `event` (the platform's) or `router`. */
  stream: string;
  text: string;
}

/** A line of the logs API as one displayable line. */
export function logLine(r: LogLine): ShownLine {
  return {
    id: r.id,
    at: r.time,
    source: r.source === 'app' ? r.process || r.type || 'app' : r.source === 'platform' ? 'slipway' : r.source,
    stream: r.source === 'app' ? r.stream ?? 'stdout' : r.source === 'platform' ? 'event' : 'router',
    text: r.part ? `${r.message} (part ${r.part})` : r.message,
  };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

export interface ProcessMetrics {
  cpu: number[];
  memory: number[];
  memoryLimit: number | null;
}

/**
 * Samples per process from the metrics API (`GET /v1/apps/:app/metrics`: `processes[]` with an
 * `id` and `history` of [time ms, cpu %, memory bytes], oldest first, and `memoryLimit`).
 */
export function metricsByProcess(body: unknown): Map<string, ProcessMetrics> {
  const out = new Map<string, ProcessMetrics>();
  const list = (body as { processes?: unknown } | null)?.processes;
  if (!Array.isArray(list)) return out;
  for (const raw of list as Record<string, unknown>[]) {
    const id = str(raw?.id);
    if (!id) continue;
    const history = (Array.isArray(raw.history) ? raw.history : []).filter((h): h is number[] => Array.isArray(h) && h.length >= 3);
    const cpu = history.map((h) => Number(h[1])).filter(Number.isFinite);
    const memory = history.map((h) => Number(h[2])).filter(Number.isFinite);
    if (!cpu.length && typeof raw.cpuPercent === 'number') cpu.push(raw.cpuPercent);
    if (!memory.length && typeof raw.memoryBytes === 'number') memory.push(raw.memoryBytes);
    const limit = Number(raw.memoryLimit);
    out.set(id, { cpu, memory, memoryLimit: Number.isFinite(limit) && limit > 0 ? limit : null });
  }
  return out;
}

export interface Traffic {
  requests: number;
  rate: string;
  p50: string | null;
  p95: string | null;
  errors: number;
  history: number[];
}

/** The router's numbers for the app from the metrics API, or null when there are none. */
export function traffic(body: unknown): Traffic | null {
  const r = (body as { router?: Record<string, unknown> } | null)?.router;
  if (!r || typeof r.requests !== 'number') return null;
  const lat = (r.latencyMs ?? {}) as Record<string, number | null>;
  const ms = (v: number | null | undefined) => (typeof v === 'number' ? `${v < 10 ? v.toFixed(1) : Math.round(v)} ms` : null);
  const classes = (r.classes ?? {}) as Record<string, number>;
  return {
    requests: r.requests,
    rate: typeof r.rate !== 'number' ? '' : r.rate < 1 ? `${(r.rate * 60).toFixed(1)}/min` : `${r.rate < 10 ? r.rate.toFixed(1) : Math.round(r.rate)}/s`,
    p50: ms(lat.p50),
    p95: ms(lat.p95),
    errors: Object.entries(classes).filter(([k]) => k.startsWith('5')).reduce((a, [, v]) => a + (typeof v === 'number' ? v : 0), 0),
    history: (Array.isArray(r.history) ? r.history : []).map((h) => Number((h as number[])[1])).filter(Number.isFinite),
  };
}
