// A release, the app's formation and its restart counters → the layer-0 job spec of each process
// type (pure). The orchestrator names the jobs and steps their counts (rollout-plan.ts).
import { ISOLATION_LABEL } from '../../../layer0/agent/types.ts';
import type { HealthCheck, JobSpec } from '../../../layer0/scheduler/types.ts';
import { isTenantImport } from '../release-images.ts';
import { defaultEntry, parseMemory } from './config.ts';
import { APP_CAP_DROP, APP_USER, processLimits, type ProcessLimits } from './process-isolation.ts';
import { RELEASE_PHASE_TYPE, type AppFormation, type AppRef, type Healthcheck, type Release } from './types.ts';

export const LABEL_APP = 'slipway.app';
export const LABEL_APP_ID = 'slipway.app-id';
export const LABEL_RELEASE = 'slipway.release';
export const LABEL_TYPE = 'slipway.type';
/** Bumped by a restart, so the spec changes and the type gets fresh processes. */
export const LABEL_RESTART = 'slipway.restart';

export interface SpecOptions {
  /** `PORT` of web processes (published, health-checked, registered). Default 5000. */
  webPort?: number;
  /** `PORT` of the other types (not published). Default 5000. */
  otherPort?: number;
  /** How long a web process may take to open its port (the rollout's health timeout). */
  healthTimeoutMs?: number;
  healthIntervalMs?: number;
  /** Lifecycle defaults (DESIGN.md): drain 5 s, SIGKILL 30 s after SIGTERM. */
  drainSec?: number;
  stopGraceSec?: number;
  /** How a Procfile command runs: `[...shell, command]`. Default `/bin/sh -c`. */
  shell?: string[];
  /** Pids limit and default CPU weight of every process (process-isolation.ts). */
  limits?: ProcessLimits;
}

export const DEFAULT_WEB_PORT = 5000;
export const DEFAULT_HEALTH_TIMEOUT_MS = 60_000;

/** The layer-0 formation id of an app: its stable id, so a rename keeps its processes' identity. */
export function formationId(app: AppRef): string {
  return app.id;
}

/** The discovery service (and router backend set) of an app's web processes. */
export function webService(app: AppRef): string {
  return `${app.name}-web`;
}

/**
 * One JobSpec per process type of the release (but `release`, the release phase). Env: the config
 * snapshot, then `HOME` and `SOURCE_VERSION` (slug releases), `PORT`, `SLIPWAY_APP`,
 * `SLIPWAY_RELEASE` (the platform's names win); the scheduler adds `DYNO` (`web.1`) per job. Web
 * processes are health-checked by a TCP connect, then `GET /` below 500 (or app.json's check).
 * A slug release's image is imported over its parent (the stack) and runs through the launcher.
 * Every process runs as `app` with no capabilities, a pids limit and a CPU weight (process-isolation.ts).
 */
export function processSpecs(app: AppRef, release: Release, formation: AppFormation, restarts: Record<string, number>, o: SpecOptions = {}): Record<string, JobSpec> {
  if (!release.image) return {};
  const out: Record<string, JobSpec> = {};
  for (const type of Object.keys(release.procfile).sort()) {
    if (type === RELEASE_PHASE_TYPE) continue; // run once per release by the push, never scaled
    const size = formation[type] ?? defaultEntry(type);
    const web = type === 'web';
    const port = web ? (o.webPort ?? DEFAULT_WEB_PORT) : (o.otherPort ?? DEFAULT_WEB_PORT);
    const env = { ...release.config, ...slugEnv(release), PORT: String(port), SLIPWAY_APP: app.name, SLIPWAY_RELEASE: `v${release.version}` };
    const check = size.health ?? release.healthchecks?.[type];
    // The app id is the network isolation group: its processes reach each other, no other app's.
    const labels: Record<string, string> = { [LABEL_APP]: app.name, [LABEL_APP_ID]: app.id, [ISOLATION_LABEL]: app.id, [LABEL_RELEASE]: `v${release.version}`, [LABEL_TYPE]: type };
    if (restarts[type]) labels[LABEL_RESTART] = String(restarts[type]);
    out[type] = {
      count: size.count,
      image: release.image,
      ...(release.imageUrl ? { imageUrl: release.imageUrl, ...(isTenantImport(release.image) ? { imageUrlUntrusted: true } : {}) } : {}),
      ...(release.imageParent ? { imageParent: release.imageParent } : {}),
      cmd: processCommand(release, release.procfile[type]!, o.shell),
      indexEnv: `DYNO=${type}.{index}`,
      env: Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`),
      user: APP_USER,
      capDrop: APP_CAP_DROP,
      workingDir: '',
      memory: parseMemory(size.memory),
      cpus: size.cpu,
      ...processLimits(size.cpu, o.limits),
      ports: web ? [port] : [],
      ...(web ? { service: webService(app), health: healthOf(check, o) } : {}),
      labels,
      stopGraceSec: o.stopGraceSec ?? 30,
      drainSec: o.drainSec ?? 5,
      restart: 'always',
    };
  }
  return out;
}

/** The launcher of a slug (buildpacks/README.md): `.profile.d` sourced, then `bash -c`, and PID 1 passing signals on. */
export const SLUG_LAUNCHER = '/app/.slipway/launch';

/** How a Procfile command runs: through the slug's launcher for a built release, else the shell. */
export function processCommand(release: Pick<Release, 'build'>, command: string, shell?: string[]): string[] {
  return release.build ? [SLUG_LAUNCHER, command] : [...(shell ?? ['/bin/sh', '-c']), command];
}

/** What a slug release's processes get beyond the config (DESIGN.md): `HOME=/app`, `SOURCE_VERSION`. */
export function slugEnv(release: Pick<Release, 'build'>): Record<string, string> {
  return release.build ? { HOME: '/app', SOURCE_VERSION: release.build.commit } : {};
}

/**
 * A web process's health check: DESIGN.md's default (TCP connect to `$PORT`, then `GET /` below
 * 500, within the rollout's timeout), or the release's app.json entry: `type: tcp` skips the GET,
 * `path` replaces `/`, `timeout` seconds (× `attempts`) replaces the time allowed.
 */
export function healthOf(check: Healthcheck | undefined, o: SpecOptions = {}): HealthCheck {
  const timeoutMs = check?.timeout !== undefined ? Math.max(100, Math.round(check.timeout * 1000 * (check.attempts ?? 1))) : (o.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS);
  const intervalMs = Math.min(o.healthIntervalMs ?? 250, timeoutMs);
  if (check?.type === 'tcp') return { type: 'tcp', path: '/', timeoutMs, intervalMs };
  return { type: 'http', path: check?.path ?? '/', timeoutMs, intervalMs };
}

/** Whether two specs run the same processes (everything but the count equal). */
export function sameProcesses(a: JobSpec, b: JobSpec): boolean {
  const { count: _a, ...ra } = a;
  const { count: _b, ...rb } = b;
  return stableJson(ra) === stableJson(rb);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
