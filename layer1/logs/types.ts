// The logs component's shapes: a log line as the API serves it, the entry fields of the per-app
// Redis Stream, retention settings, drains, metrics samples, and the key layout (under the
// controller's prefix, `ctl:` by default, so an app's keys go with it when it is deleted).
import { z } from 'zod';
import { envBytes, envInt } from '../../layer0/common/settings.ts';

export const LOG_SOURCES = ['app', 'router', 'platform'] as const;
export type LogSource = (typeof LOG_SOURCES)[number];

export const LogLineSchema = z.object({
  /** The Redis stream id: a cursor (`Last-Event-ID`, `after`). */
  id: z.string(),
  /** When the line was written (RFC 3339, nanoseconds for container output). */
  time: z.string(),
  source: z.enum(LOG_SOURCES),
  /** Process type (`web`), process (`web.1`), release (`v7`), stream: container output only. */
  type: z.string().optional(),
  process: z.string().optional(),
  release: z.string().optional(),
  stream: z.enum(['stdout', 'stderr']).optional(),
  /** The line without its newline (a part of it when `part` is set). */
  message: z.string(),
  /** `2/3`: a line over 64 KiB is split into parts that follow each other in the stream. */
  part: z.string().optional(),
  /** Router lines: the status; platform lines: what happened (`crashed`, `oom`, `deploy`…). */
  status: z.number().optional(),
  event: z.string().optional(),
});
export type LogLine = z.infer<typeof LogLineSchema>;

/** A line longer than this (in UTF-8 bytes) is split into parts. */
export const MAX_LINE_BYTES = 64 * 1024;

export const LogSettingsSchema = z.object({
  /** Lines kept per app (stream trimming by count). */
  maxLines: z.number().int().min(100).max(10_000_000),
  /** Seconds a line is kept (trimming by stream id age). */
  maxAgeSec: z.number().int().min(1).max(366 * 86400),
  /** Bytes kept per app (fields of the kept lines, plus a small per-line overhead): the oldest go first. */
  maxBytes: z.number().int().min(64 * 1024).max(2 ** 40),
});
export type LogSettings = z.infer<typeof LogSettingsSchema>;

/** What the operator allows (env, README "Limits"): an owner's settings never go beyond the caps. */
export interface LogLimits {
  /** SLIPWAY_LOG_MAX_LINES: the highest maxLines an owner may set. */
  maxLines: number;
  /** SLIPWAY_LOG_MAX_BYTES: the highest maxBytes an owner may set. */
  maxBytes: number;
  /** SLIPWAY_LOG_BYTES: an app's byte budget until its owner sets one. */
  defaultBytes: number;
}

export function logLimits(env: NodeJS.ProcessEnv = process.env): LogLimits {
  const maxBytes = envBytes(env, 'SLIPWAY_LOG_MAX_BYTES', 128 * 2 ** 20, { min: 64 * 1024 });
  return {
    maxLines: envInt(env, 'SLIPWAY_LOG_MAX_LINES', 1_000_000, { min: 100, max: 10_000_000 }),
    maxBytes,
    defaultBytes: Math.min(maxBytes, envBytes(env, 'SLIPWAY_LOG_BYTES', 32 * 2 ** 20, { min: 64 * 1024 })),
  };
}

export const DEFAULT_LOG_SETTINGS: Omit<LogSettings, 'maxBytes'> = { maxLines: 100_000, maxAgeSec: 7 * 86400 };
/** Stream bytes counted per line beyond its fields (its id and the stream's bookkeeping, roughly). */
export const LINE_OVERHEAD_BYTES = 16;

/** An app's settings hash (HGETALL) → its settings: the defaults where unset, never beyond the operator's caps. */
export function parseSettings(h: Record<string, string>, limits: LogLimits): LogSettings {
  return {
    maxLines: Math.min(limits.maxLines, Number(h.maxLines) || DEFAULT_LOG_SETTINGS.maxLines),
    maxAgeSec: Number(h.maxAgeSec) || DEFAULT_LOG_SETTINGS.maxAgeSec,
    maxBytes: Math.min(limits.maxBytes, Number(h.maxBytes) || limits.defaultBytes),
  };
}

export const DrainSchema = z.object({
  id: z.string(),
  url: z.string(),
  createdAt: z.string(),
  createdBy: z.string().optional(),
});
export type Drain = z.infer<typeof DrainSchema>;

/** One process's numbers at one time (what the collector stores, what the API serves). */
export const ProcessSampleSchema = z.object({
  t: z.number(),
  id: z.string(),
  type: z.string(),
  process: z.string(),
  release: z.string(),
  host: z.string(),
  status: z.string(),
  cpuPercent: z.number(),
  memoryBytes: z.number(),
  memoryLimit: z.number(),
  restarts: z.number(),
  startedAt: z.string(),
});
export type ProcessSample = z.infer<typeof ProcessSampleSchema>;

/** Latency histogram bucket bounds (ms) of the router counters; the last bucket is +Inf. */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/** A router's counters of one app over one interval. */
export interface RouterSample {
  t: number;
  requests: number;
  /** `2xx` → count. */
  classes: Record<string, number>;
  /** Counts per LATENCY_BUCKETS_MS bucket, plus one for +Inf. */
  buckets: number[];
  durationMsSum: number;
}

export class LogKeys {
  constructor(readonly prefix = 'ctl:') {}
  /** Stream of the app's log lines. */
  logs(appId: string) { return `${this.prefix}app:${appId}:logs`; }
  /** Hash maxLines, maxAgeSec, maxBytes. */
  settings(appId: string) { return `${this.prefix}app:${appId}:log-settings`; }
  /** The bytes the app's stream holds (kept beside it by the writer's script: XTRIM counts only lines). */
  logBytes(appId: string) { return `${this.prefix}app:${appId}:log-bytes`; }
  /** Hash drain id → Drain JSON. */
  drains(appId: string) { return `${this.prefix}app:${appId}:drains`; }
  /** Hash drain id → last stream id delivered. */
  drainCursors(appId: string) { return `${this.prefix}app:${appId}:drain-cursors`; }
  /** Stream of process samples (field `p`: JSON ProcessSample[] of one host). */
  procMetrics(appId: string) { return `${this.prefix}app:${appId}:metrics:ps`; }
  /** Stream of router samples (field `r`: JSON RouterSample). */
  routerMetrics(appId: string) { return `${this.prefix}app:${appId}:metrics:router`; }
  /** Set of app ids that have drains (the drain worker's index). */
  get drainApps() { return `${this.prefix}logs:drain-apps`; }
  /** Hash container id → `<RFC 3339 ns time> <frames at that time>`: what a shipper has stored. */
  get cursors() { return `${this.prefix}logs:cursors`; }
  /** The last `events` stream id bridged into app logs. */
  get bridgeCursor() { return `${this.prefix}logs:bridge-cursor`; }
  /** Lease of a drain's sender: one shipper sends each drain. */
  drainLease(appId: string, drainId: string) { return `${this.prefix}logs:drain-lease:${appId}:${drainId}`; }
  /** The controller's hash of an app: its existence says the app is alive. */
  app(appId: string) { return `${this.prefix}app:${appId}`; }
  get appNames() { return `${this.prefix}app-names`; }
  get events() { return `${this.prefix}events`; }
}

/** Container labels the deploy core sets (controller/deploy README, layer-0 mapping). */
export const LABELS = {
  app: 'slipway.app',
  appId: 'slipway.app-id',
  release: 'slipway.release',
  type: 'slipway.type',
  index: 'slipway.index',
  dyno: 'slipway.dyno',
} as const;
