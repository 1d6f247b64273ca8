// The builder's public types: a build request, the build record (immutable once it has ended),
// its states, log lines, and what the in-container driver leaves in /tmp/out/result.json.
import { z } from 'zod';

export const BUILD_STATES = ['pending', 'building', 'succeeded', 'failed', 'cancelled'] as const;
export const BuildState = z.enum(BUILD_STATES);
export type BuildState = z.infer<typeof BuildState>;
export const TERMINAL: ReadonlySet<BuildState> = new Set(['succeeded', 'failed', 'cancelled']);

export const AppRefSchema = z.object({ id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/), name: z.string().min(1).max(64) });
export type AppRef = z.infer<typeof AppRefSchema>;

/** Where the pushed tree is: a tar file on the builder's host (`git archive` output) or a blob. */
export const SourceTar = z.union([z.object({ path: z.string().startsWith('/') }), z.object({ blobId: z.string().regex(/^[0-9a-f]{64}$/) })]);
export type SourceTar = z.infer<typeof SourceTar>;

export const BuildRequestSchema = z.object({
  app: AppRefSchema,
  /** The commit built (`SOURCE_VERSION`). */
  commit: z.string().regex(/^[0-9a-f]{7,64}$/, 'a commit sha'),
  sourceTar: SourceTar,
  /** The app's config vars, written one file each into the env dir (`/tmp/env`). */
  config: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,99}$/, 'a config var name (letters, digits, _; a file name in the env dir)'), z.string()).default({}),
  /** A buildpack name, path or git URL the build driver understands (`BUILDPACK_URL`). */
  buildpackUrl: z.string().max(2000).optional(),
  /** Who asked (shown in the record). */
  createdBy: z.string().max(200).optional(),
});
export type BuildRequest = z.input<typeof BuildRequestSchema>;

export const BuildFailureSchema = z.object({
  /** `build_failed` (the driver exited non-zero), `timeout`, `out_of_memory`, `no_slug`, `cancelled`, `platform_error`. */
  code: z.string(),
  message: z.string(),
  exitCode: z.number().int().optional(),
});
export type BuildFailure = z.infer<typeof BuildFailureSchema>;

export const BuildRecordSchema = z.object({
  id: z.string(),
  app: z.string().describe('the app name at the time of the build'),
  appId: z.string(),
  commit: z.string(),
  state: BuildState,
  slug: z.object({ blobId: z.string(), size: z.number().int() }).nullable(),
  processTypes: z.record(z.string(), z.string()),
  buildpacks: z.array(z.object({ name: z.string(), url: z.string() })),
  stack: z.string(),
  createdBy: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().int().nullable(),
  failure: BuildFailureSchema.nullable(),
});
export type BuildRecord = z.infer<typeof BuildRecordSchema>;

/** A buildpack that built the app: what its detect printed, and what selects it again. */
const BuildpackRef = z.union([
  z.object({ name: z.string(), url: z.string() }).passthrough().transform(({ name, url }) => ({ name, url })),
  z.string().transform((s) => ({ name: s, url: s })),
]);

/** What the driver writes to `/tmp/out/result.json` beside `/tmp/out/slug.tgz` (buildpacks/README.md). */
export const DriverResultSchema = z.object({
  processTypes: z.record(z.string(), z.string()).default({}),
  buildpacks: z.array(BuildpackRef).default([]),
  stack: z.string().optional(),
  slugBytes: z.number().optional(),
}).passthrough();
export type DriverResult = z.infer<typeof DriverResultSchema>;

/** One line of a build's log: `stream` is the container's stdout/stderr, or `system` for the builder's own lines. */
export interface BuildLogLine {
  /** The Redis stream id (resume after it with `after`). */
  id: string;
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
}

/** Where a build stands: its state and, while it waits, how many builds of its app are ahead. */
export interface BuildPosition {
  state: BuildState;
  /** Builds of the same app ahead of this one (0: it is the app's current build). */
  ahead: number;
  /** The build of the app that runs or is next, when it is not this one. */
  blockedBy: string | null;
}
