// The runtime's own vocabulary: images, containers, their specs (desired) and states
// (observed). The agent translates Docker's JSON to and from these; nothing here knows HTTP.
import { z } from 'zod';

// ---------- images ----------

export const ImageConfigSchema = z.object({
  Cmd: z.array(z.string()).nullable().default(null),
  Entrypoint: z.array(z.string()).nullable().default(null),
  Env: z.array(z.string()).default([]),
  WorkingDir: z.string().default(''),
  User: z.string().default(''),
  Labels: z.record(z.string(), z.string()).default({}),
  ExposedPorts: z.record(z.string(), z.object({})).default({}),
  StopSignal: z.string().default(''),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export const ImageRecordSchema = z.object({
  /** `sha256:<64hex>`: digest of the canonical JSON of { layer, parent, config, created }. */
  id: z.string(),
  /** Parent image id: this image's layer sits on top of the parent's layers. */
  parent: z.string().nullable(),
  /** `sha256:<64hex>` of the uncompressed layer tar; names the extracted layer directory. */
  layer: z.string(),
  /** `name:tag` references. */
  tags: z.array(z.string()),
  created: z.string(),
  comment: z.string(),
  config: ImageConfigSchema,
  /** Bytes of this image's own layer (not its parents'). */
  size: z.number(),
});
export type ImageRecord = z.infer<typeof ImageRecordSchema>;

export interface ImportOptions {
  /** `name` or `name:tag`; tag defaults to `latest`; absent = dangling image. */
  reference?: string;
  /** Parent image reference or id. */
  parent?: string;
  /** Dockerfile-like changes: `CMD ["sh"]`, `ENV K=V`, `WORKDIR /x`, `USER app`, `EXPOSE 80`, `ENTRYPOINT`, `LABEL k=v`. */
  changes?: string[];
  message?: string;
  /** Device nodes are refused unless the importer is trusted (the stack build). */
  allowDevices?: boolean;
  /** The most bytes the uncompressed tar may have (a gzip bomb stops there): 413 past it. No limit when absent. */
  maxBytes?: number;
}

export interface RemovedImageItem {
  Untagged?: string;
  Deleted?: string;
}

// ---------- containers ----------

export const PortBindingSchema = z.object({
  containerPort: z.number().int().min(1).max(65535),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  /** '' = every host address. */
  hostIp: z.string().default(''),
  /** 0 = pick a free port. */
  hostPort: z.number().int().min(0).max(65535).default(0),
});
export type PortBinding = z.infer<typeof PortBindingSchema>;

export const RestartPolicySchema = z.object({
  name: z.enum(['no', 'on-failure', 'always', 'unless-stopped']).default('no'),
  maximumRetryCount: z.number().int().min(0).default(0),
});
export type RestartPolicy = z.infer<typeof RestartPolicySchema>;

/** What a caller asks for. Image defaults are already merged in by the time it is stored. */
export const ContainerSpecSchema = z.object({
  name: z.string(),
  /** The image reference as the caller typed it. */
  image: z.string(),
  /** Entrypoint ++ Cmd, resolved; never empty. */
  args: z.array(z.string()).min(1),
  env: z.array(z.string()).default([]),
  /** `uid[:gid]` or a user name from the image's /etc/passwd; '' = root. */
  user: z.string().default(''),
  workingDir: z.string().default('/'),
  hostname: z.string(),
  labels: z.record(z.string(), z.string()).default({}),
  tty: z.boolean().default(false),
  openStdin: z.boolean().default(false),
  /** Bytes; 0 = unlimited. */
  memory: z.number().int().min(0).default(0),
  /** Memory+swap bytes; 0 = twice memory; -1 = unlimited. */
  memorySwap: z.number().int().min(-1).default(0),
  /** 1e9 = one CPU; 0 = unlimited. */
  nanoCpus: z.number().int().min(0).default(0),
  cpuShares: z.number().int().min(0).default(0),
  /** 0 or -1 = unlimited. */
  pidsLimit: z.number().int().min(-1).default(0),
  /** Docker's CapAdd/CapDrop, normalized (`CAP_NET_RAW`, or `ALL`): see capabilities.ts. */
  capAdd: z.array(z.string()).default([]),
  capDrop: z.array(z.string()).default([]),
  network: z.enum(['bridge', 'none', 'host']).default('bridge'),
  ports: z.array(PortBindingSchema).default([]),
  restartPolicy: RestartPolicySchema.default({ name: 'no', maximumRetryCount: 0 }),
  autoRemove: z.boolean().default(false),
  readonlyRootfs: z.boolean().default(false),
  stopSignal: z.string().default('SIGTERM'),
  /** Seconds between the stop signal and SIGKILL. */
  stopTimeout: z.number().int().min(0).default(10),
  /** Extra mounts (builds use them; apps get none). */
  binds: z.array(z.object({ source: z.string(), destination: z.string(), readonly: z.boolean().default(true) })).default([]),
});
export type ContainerSpec = z.infer<typeof ContainerSpecSchema>;
export type ContainerSpecInput = z.input<typeof ContainerSpecSchema>;

export type ContainerStatus = 'created' | 'running' | 'restarting' | 'exited' | 'removing' | 'dead';

/** Observed state of a container, kept on disk so a restarted agent finds it again. */
export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  error: string;
  startedAt: string | null;
  finishedAt: string | null;
  restartCount: number;
  /** Set by an explicit stop, so `unless-stopped` and `always` do not bring it back. */
  stoppedByUser: boolean;
}

export interface NetworkAttachment {
  mode: 'bridge' | 'none' | 'host';
  ip: string;
  gateway: string;
  prefixLength: number;
  mac: string;
  netnsPath: string | null;
  netnsName?: string;
  vethHost?: string;
  /** Resolved bindings: hostPort is never 0 here. */
  ports: PortBinding[];
}

export interface ContainerRecord {
  id: string;
  spec: ContainerSpec;
  imageId: string;
  created: string;
  state: ContainerState;
  network: NetworkAttachment | null;
  logPath: string;
  /** Opaque data the caller keeps with the container (the agent keeps Docker's Config/HostConfig). */
  extra: Record<string, unknown>;
}

export interface LogLine {
  time: string; // RFC 3339 with nanoseconds, as conmon wrote it
  stream: 'stdout' | 'stderr';
  /** The bytes of the line including its trailing newline when it had one. */
  data: Buffer;
}

export interface ContainerStats {
  read: string;
  cpuTotalNs: number;
  cpuSystemNs: number;
  onlineCpus: number;
  memoryUsage: number;
  memoryLimit: number;
  memoryMaxUsage: number;
  pids: number;
  pidsLimit: number;
}

export type RuntimeEvent = {
  type: 'container' | 'image';
  action: string;
  id: string;
  attributes: Record<string, string>;
  timeNano: bigint;
};

// ---------- the runtime's service interface (the agent's only way in) ----------

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface LogQuery {
  /** Unix seconds (fractional allowed); lines strictly before are skipped. */
  since?: number;
  until?: number;
  /** Last N lines (after since/until); undefined = all. */
  tail?: number;
  follow?: boolean;
  signal?: AbortSignal;
}

export interface ExecSpec {
  cmd: string[];
  env?: string[];
  user?: string;
  workingDir?: string;
  tty?: boolean;
  attachStdin?: boolean;
}

export interface ExecRecord {
  id: string;
  containerId: string;
  spec: ExecSpec;
  running: boolean;
  exitCode: number | null;
  pid: number;
}

export interface ExecSession {
  stdout: NodeJS.ReadableStream;
  /** Null for a TTY exec (stderr merged). */
  stderr: NodeJS.ReadableStream | null;
  /** Null unless attachStdin. */
  stdin: NodeJS.WritableStream | null;
  exit: Promise<number>;
}

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export interface ContainerRuntime {
  /** Validates the spec and the image, allocates the name; writes nothing to the kernel yet. */
  create(spec: ContainerSpecInput, extra?: Record<string, unknown>): Promise<ContainerRecord>;
  /** `not_modified` when already running. */
  start(ref: string): Promise<void>;
  /** Stop signal, then SIGKILL after `timeout` s (default the spec's stopTimeout); `not_modified` when not running. */
  stop(ref: string, opts?: { timeout?: number; signal?: string }): Promise<void>;
  restart(ref: string, opts?: { timeout?: number; signal?: string }): Promise<void>;
  /** `not_running` (409) when not running. */
  kill(ref: string, signal?: string): Promise<void>;
  /** `conflict` (409) when running and not forced. */
  remove(ref: string, opts?: { force?: boolean }): Promise<void>;
  /** Resolves with the exit code when the condition is met; rejects on abort. */
  wait(ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<{ exitCode: number; error: string }>;
  /** By full id, name (with or without '/'), or unique id prefix; `container_not_found` otherwise. */
  get(ref: string): ContainerRecord;
  list(): ContainerRecord[];
  /** Stored lines, then (follow) live lines until the container stops. */
  logs(ref: string, query: LogQuery): AsyncIterable<LogLine>;
  /** Live output from now until the container's stdio ends (an attach registered before start sees everything). */
  attach(ref: string, signal?: AbortSignal): AsyncIterable<LogLine>;
  stats(ref: string): Promise<ContainerStats>;
  createExec(ref: string, spec: ExecSpec): ExecRecord;
  /** `size`: a TTY exec's terminal size from the start (else 0×0 until `resizeExec`). */
  startExec(execId: string, size?: { rows: number; cols: number }): Promise<ExecSession>;
  getExec(execId: string): ExecRecord;
  /** Sizes a running TTY exec's terminal (rows × cols); a no-op for other execs. */
  resizeExec(execId: string, rows: number, cols: number): Promise<void>;
  archiveGet(ref: string, path: string): Promise<{ stat: PathStat; tar: NodeJS.ReadableStream }>;
  archiveStat(ref: string, path: string): Promise<PathStat>;
  archivePut(ref: string, path: string, tar: NodeJS.ReadableStream): Promise<void>;
  /** Every container and image event, with a replay of recent ones from `since` (ns). */
  onEvent(listener: (e: RuntimeEvent) => void): () => void;
  recentEvents(sinceNano: bigint): RuntimeEvent[];
  /** After an agent restart: find every container again, with true exit codes. */
  adopt(): Promise<void>;
  /** Removes container directories no container owns (a create or removal cut short); returns their ids and the bytes freed. */
  pruneLeftovers(): Promise<{ removed: string[]; freedBytes: number }>;
  close(): Promise<void>;
}
