// The deploy core's data model (zod schemas beside their types): immutable releases, the app's
// config and formation (desired), deployments (a rollout's record and state), and app events.
// The controller's routes validate with these and call deploy/releases.ts.
import { z } from 'zod';
import type { JobSpec } from '../../../layer0/scheduler/types.ts';

/** The app as the deploy core needs it: a stable id (keys Redis and names the layer-0 formation) and its current name. */
export const AppRefSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be 1-64 lowercase letters, digits, "_" or "-"'),
  name: z.string().regex(/^[a-z][a-z0-9-]{2,29}$/),
});
export type AppRef = z.infer<typeof AppRefSchema>;

export const CONFIG_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const CONFIG_VALUE_MAX_BYTES = 32 * 1024;
/** Process types become layer-0 job names `<type>-<n>` (≤ 30 characters), hence ≤ 20 here. */
export const PROCESS_TYPE_RE = /^[a-z][a-z0-9_-]{0,19}$/;

export const ConfigSchema = z.record(z.string(), z.string());
export type Config = z.infer<typeof ConfigSchema>;
/** A config change: name → new value, or null to unset. */
export const ConfigChangesSchema = z.record(z.string(), z.string().nullable());
export type ConfigChanges = z.infer<typeof ConfigChangesSchema>;

export const ProcfileSchema = z
  .record(z.string().regex(PROCESS_TYPE_RE, 'process types are lowercase letters, digits, "_" or "-" (a letter first, at most 20)'), z.string().min(1).max(4096))
  .refine((p) => Object.keys(p).length <= 20, 'at most 20 process types');
export type Procfile = z.infer<typeof ProcfileSchema>;

/**
 * A process type's health check from app.json (`healthchecks`, Dokku's shape) or the API: `type`
 * `tcp` (connect to `$PORT`) or anything else = HTTP (`GET path` answered below 500); `timeout`
 * seconds (times `attempts` when given) is how long a new process has to pass it.
 */
export const HealthcheckSchema = z.object({
  type: z.string().max(40).optional(),
  path: z.string().regex(/^\/[\x21-\x7e]*$/, 'an absolute path without spaces').max(500).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  timeout: z.number().min(0.1).max(600).optional(),
  attempts: z.number().int().min(1).max(100).optional(),
});
export type Healthcheck = z.infer<typeof HealthcheckSchema>;
export const HealthchecksSchema = z.record(z.string().regex(PROCESS_TYPE_RE, 'not a process type'), HealthcheckSchema);
export type Healthchecks = z.infer<typeof HealthchecksSchema>;

/** The build a slug release came from: its processes run through the slug's launcher with `HOME=/app` and `SOURCE_VERSION`. */
export const ReleaseBuildSchema = z.object({ id: z.string().min(1).max(64), commit: z.string().regex(/^[0-9a-f]{7,64}$/) });
export type ReleaseBuild = z.infer<typeof ReleaseBuildSchema>;

export const ReleaseStatusSchema = z.enum(['pending', 'deployed', 'failed', 'superseded']);
/** The process type run once per new release before its rollout (Heroku's release phase); never scaled. */
export const RELEASE_PHASE_TYPE = 'release';
export type ReleaseStatus = z.infer<typeof ReleaseStatusSchema>;

export const FailureSchema = z.object({
  /** Which check failed: `crashed`, `health`, `placement`, `formation` (layer 0 refused it), `internal`. */
  check: z.string(),
  type: z.string().nullable(),
  message: z.string(),
  /** The last lines of output of one failed process, when its host's agent was reachable. */
  output: z.array(z.string()),
});
export type Failure = z.infer<typeof FailureSchema>;

export const ReleaseSchema = z.object({
  app: z.string().describe('the app name when the release was made'),
  appId: z.string(),
  version: z.number().int().min(1),
  /** Null for a release made by a config change before the app had any image (nothing to run). */
  image: z.string().nullable(),
  imageUrl: z.string().nullable(),
  /** The image the scheduler imports `image` over (a slug's stack); null for whole images. */
  imageParent: z.string().nullable().default(null),
  /** The build of a slug release (null: an image release). */
  build: ReleaseBuildSchema.nullable().default(null),
  healthchecks: HealthchecksSchema.default({}),
  procfile: z.record(z.string(), z.string()),
  config: ConfigSchema,
  createdBy: z.string(),
  reason: z.string(),
  createdAt: z.string(),
  status: ReleaseStatusSchema,
  failure: FailureSchema.optional(),
});
export type Release = z.infer<typeof ReleaseSchema>;

/** What a new image release is made of (`deis pull`): an image on the agents (or fetched from imageUrl) and its process types. */
export const NewReleaseSchema = z.strictObject({
  image: z.string().min(1).max(300),
  imageUrl: z.string().url().optional(),
  /** The image `image` is a layer over (a slug over the stack); the scheduler imports it with that parent. */
  imageParent: z.string().min(1).max(300).optional(),
  build: ReleaseBuildSchema.optional(),
  healthchecks: HealthchecksSchema.optional(),
  procfile: ProcfileSchema.refine((p) => Object.keys(p).length > 0, 'at least one process type'),
  reason: z.string().max(500).optional(),
  createdBy: z.string().min(1).max(100),
});
export type NewRelease = z.input<typeof NewReleaseSchema>;

export const MEMORY_MIN = 16 * 1024 * 1024;
export const MEMORY_MAX = 64 * 1024 ** 3;
export const DEFAULT_MEMORY = '256M';

/** One process type's size in the app's formation; memory as `512M`, `1G` (binary units). */
export const FormationEntrySchema = z.object({
  count: z.number().int().min(0).max(100),
  memory: z.string(),
  cpu: z.number().min(0).max(64),
  /** The type's health check set through the API; it wins over the release's app.json entry. */
  health: HealthcheckSchema.optional(),
});
export type FormationEntry = z.infer<typeof FormationEntrySchema>;
export type AppFormation = Record<string, FormationEntry>;

/** A scale request: type → count, or type → `{count?, memory?, cpu?}`. */
export const ScaleSchema = z.record(
  z.string().regex(PROCESS_TYPE_RE, 'not a process type'),
  z.union([
    z.number().int().min(0).max(100),
    z.strictObject({
      count: z.number().int().min(0).max(100).optional(),
      memory: z.union([z.string(), z.number().int()]).optional(),
      cpu: z.number().min(0).max(64).optional(),
      /** null: back to the release's app.json check (or the default). */
      health: HealthcheckSchema.nullable().optional(),
    }),
  ]),
);
export type ScaleRequest = z.input<typeof ScaleSchema>;

export const StrategySchema = z.enum(['rolling', 'all-at-once']);
export type Strategy = z.infer<typeof StrategySchema>;
export const DeploymentStateSchema = z.enum(['queued', 'running', 'succeeded', 'failed', 'superseded']);
export type DeploymentState = z.infer<typeof DeploymentStateSchema>;
export const DeploymentKindSchema = z.enum(['release', 'config', 'scale', 'restart', 'rollback']);
export type DeploymentKind = z.infer<typeof DeploymentKindSchema>;

export const DeploymentSchema = z.object({
  id: z.string(),
  app: z.string(),
  appId: z.string(),
  kind: DeploymentKindSchema,
  /** The release running when the rollout started (null: none); set when it starts. */
  from: z.number().int().nullable(),
  to: z.number().int().nullable(),
  strategy: StrategySchema,
  state: DeploymentStateSchema,
  reason: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  supersededBy: z.string().nullable(),
  failure: FailureSchema.nullable(),
  log: z.array(z.string()),
});
export type Deployment = z.infer<typeof DeploymentSchema>;

export const AppEventSchema = z.object({
  /** Redis stream id: a cursor for resume (`Last-Event-ID`). */
  id: z.string(),
  type: z.string(),
  /** The app's name when the event happened. */
  app: z.string(),
  /** The app's stable id (events before it was recorded have none). */
  appId: z.string().optional(),
  at: z.string(),
  data: z.record(z.string(), z.unknown()),
});
export type AppEvent = z.infer<typeof AppEventSchema>;

/** Layer-0 job groups of a deployed app: type → the job name and the spec it runs. */
export interface DeployedGroup {
  job: string;
  spec: JobSpec;
}
export interface DeployedState {
  release: number | null;
  deploymentId: string | null;
  groups: Record<string, DeployedGroup>;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}
