// Pure functions from API records to what the views show: the state of a process and of an
// app (a colour class and words, never colour alone), the caller's role on an app, sparklines
// (inline SVG, no script), and tolerant readers for log lines and metrics samples.

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
export function appState(processes: Pick<Process, 'state' | 'exitCode' | 'registered' | 'type'>[], hasRelease: boolean): State {
  if (!hasRelease) return { tone: 'idle', label: 'not deployed' };
  if (processes.length === 0) return { tone: 'idle', label: 'no processes' };
  const tones = processes.map((p) => processState(p).tone);
  if (tones.includes('bad')) return { tone: 'bad', label: 'crashed' };
  if (tones.includes('warn')) return { tone: 'warn', label: 'starting' };
  if (tones.every((t) => t === 'ok')) return { tone: 'ok', label: 'running' };
  return { tone: 'idle', label: 'stopping' };
}

export function deploymentState(state: string): State {
  const tone: Tone = state === 'succeeded' ? 'ok' : state === 'failed' ? 'bad' : state === 'running' || state === 'queued' ? 'warn' : 'idle';
  return { tone, label: state };
}

export function releaseState(status: string): State {
  const tone: Tone = status === 'deployed' ? 'ok' : status === 'failed' ? 'bad' : status === 'pending' ? 'warn' : 'idle';
  return { tone, label: status === 'deployed' ? 'current' : status };
}

const RANK: Record<string, number> = { view: 1, deploy: 2, owner: 3, admin: 4 };

/** The caller's role on an app: the weaker of the user's (admins: admin) and the token's. */
export function effectiveRole(user: { admin: boolean; tokenRole: string }, grant: string | null): string | null {
  const mine = user.admin ? 'admin' : grant;
  if (!mine || !RANK[mine]) return null;
  return (RANK[mine] ?? 0) <= (RANK[user.tokenRole] ?? 0) ? mine : user.tokenRole;
}

export function can(role: string | null, needed: 'view' | 'deploy' | 'owner'): boolean {
  return role !== null && (RANK[role] ?? 0) >= RANK[needed]!;
}

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

export function format(v: number, unit: string): string {
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

export interface LogLine {
  id: string;
  at: string;
  source: string;
  stream: string;
  text: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** A log record from the logs API, whatever its exact field names, as one displayable line. */
export function logLine(r: Record<string, unknown>): LogLine {
  const type = str(r.type ?? r.processType ?? r.ps);
  const source = str(r.process ?? r.dyno ?? r.source) || type || 'app';
  return {
    id: str(r.id),
    at: str(r.at ?? r.time ?? r.timestamp ?? r.ts),
    source,
    stream: str(r.stream) || 'stdout',
    text: str(r.line ?? r.message ?? r.msg ?? r.text ?? r.data),
  };
}

export interface ProcessMetrics {
  cpu: number[];
  memory: number[];
  memoryLimit: number | null;
}

/**
 * Samples per process from the metrics API: accepts `{ processes: [...] }`, `{ items: [...] }`
 * or an array, each process with an `id` and either `samples: [{cpu, memory}]` or `cpu`/`memory` arrays.
 */
export function metricsByProcess(body: unknown): Map<string, ProcessMetrics> {
  const out = new Map<string, ProcessMetrics>();
  const b = body as Record<string, unknown> | unknown[] | null;
  const list = Array.isArray(b) ? b : Array.isArray(b?.processes) ? b.processes : Array.isArray(b?.items) ? b.items : [];
  for (const raw of list as Record<string, unknown>[]) {
    const id = str(raw?.id ?? raw?.process ?? raw?.container);
    if (!id) continue;
    const samples = Array.isArray(raw.samples) ? (raw.samples as Record<string, unknown>[]) : null;
    const nums = (v: unknown) => (Array.isArray(v) ? v.map((x) => (typeof x === 'number' ? x : Number((x as Record<string, unknown>)?.value ?? NaN))).filter(Number.isFinite) : []);
    const cpu = samples ? samples.map((s) => Number(s.cpu ?? s.cpuPercent)).filter(Number.isFinite) : nums(raw.cpu);
    const memory = samples ? samples.map((s) => Number(s.memory ?? s.memoryBytes ?? s.rss)).filter(Number.isFinite) : nums(raw.memory);
    const limit = Number(raw.memoryLimit ?? raw.limit);
    out.set(id, { cpu, memory, memoryLimit: Number.isFinite(limit) ? limit : null });
  }
  return out;
}
