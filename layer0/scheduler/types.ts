// The scheduler in layer 0's words: desired formations (jobs, counts, container specs,
// services, health checks, opaque labels) and observed jobs on hosts. Layer 1 puts its own
// meaning (app, release, process type) into labels; nothing here knows of it.
import { z } from 'zod';

export const HealthCheckSchema = z.object({
  /** `tcp`: a connect to the job's first published port; `http`: that, then `GET path` answered below 500. */
  type: z.enum(['tcp', 'http']).default('tcp'),
  path: z.string().regex(/^\/[\x21-\x7e]*$/, 'an absolute path without spaces').max(500).default('/'),
  /** Give up on a job whose port never opens after this long (ms). */
  timeoutMs: z.number().int().min(100).max(600_000).default(60_000),
  intervalMs: z.number().int().min(50).max(60_000).default(500),
});
export type HealthCheck = z.infer<typeof HealthCheckSchema>;

/**
 * The memory limit (bytes) a container holds on its host. The scheduler puts it on its jobs and
 * charges every running container that carries it to its host, in a formation or not (one-off
 * processes carry it too), so placement never counts memory that others already hold.
 */
export const MEMORY_LABEL = 'slipway.memory';

export const JobSpecSchema = z.object({
  count: z.number().int().min(0).max(100),
  /** Image reference on the agent, e.g. `slipway/stack:bookworm`. */
  image: z.string().min(1).max(300),
  /** Where a host fetches the image tar when it lacks it (http URL); a parent image is assumed present. */
  imageUrl: z.string().url().optional(),
  /** `imageUrl` was named by someone the platform does not trust: the agent applies the URL policy when it connects. */
  imageUrlUntrusted: z.boolean().optional(),
  imageParent: z.string().optional(),
  cmd: z.array(z.string()).min(1),
  env: z.array(z.string().regex(/^[^=]+=/)).default([]),
  /** An env entry made per job from its number in the group, `{index}` replaced (`DYNO=web.{index}`
   *  → `DYNO=web.1`): numbers start at 1 and are reused, so `count` jobs are numbered 1..count. */
  indexEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=.*\{index\}/, 'NAME=...{index}...').max(200).optional(),
  user: z.string().default(''),
  /** Docker's CapDrop (`ALL` for none at all); absent = the agent's defaults. */
  capDrop: z.array(z.string().regex(/^[A-Za-z_]{2,40}$/)).max(64).optional(),
  workingDir: z.string().default(''),
  /** Bytes; the placement filter uses it. */
  memory: z.number().int().min(6 * 1024 * 1024).max(1024 ** 4).default(256 * 1024 * 1024),
  cpus: z.number().min(0).max(1024).default(0),
  /** Relative CPU weight (cgroup cpu.shares, 1024 = one share); absent = the kernel's default. */
  cpuShares: z.number().int().min(2).max(262_144).optional(),
  /** Processes (and threads) at once in the job's container; absent = unlimited. */
  pidsLimit: z.number().int().min(1).max(4_194_304).optional(),
  /** Container ports to publish on the host (an ephemeral host port each). */
  ports: z.array(z.number().int().min(1).max(65535)).max(16).default([]),
  /** Registered in discovery once healthy, with addr `hostAddress:publishedPort`. */
  service: z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,99}$/).optional(),
  health: HealthCheckSchema.optional(),
  labels: z.record(z.string(), z.string()).default({}),
  /** Seconds between SIGTERM and SIGKILL. */
  stopGraceSec: z.number().int().min(0).max(3600).default(30),
  /** Seconds a deregistered job keeps serving before SIGTERM. */
  drainSec: z.number().int().min(0).max(600).default(5),
  /** Restart policy applied by the agent. */
  restart: z.enum(['always', 'on-failure', 'no']).default('always'),
});
export type JobSpec = z.infer<typeof JobSpecSchema>;

export const FormationSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/),
  jobs: z.record(z.string().regex(/^[a-z][a-z0-9_-]{0,29}$/), JobSpecSchema),
  labels: z.record(z.string(), z.string()).default({}),
});
export type Formation = z.infer<typeof FormationSchema>;
export type FormationInput = z.input<typeof FormationSchema>;

export type JobState = 'pending' | 'starting' | 'running' | 'restarting' | 'stopping' | 'exited';

/** Observed: one job (container) of a formation on a host, or a pending one with its reason. */
export interface Job {
  /** The container id on its host, or `pending:<formation>:<job>:<n>`. */
  id: string;
  formationId: string;
  jobName: string;
  hostId: string | null;
  state: JobState;
  /** Why a job is pending (`insufficient_memory`, `no_hosts`), or the last error. */
  reason: string;
  restartCount: number;
  exitCode: number | null;
  /** `hostAddress:port` per published container port. */
  ports: Record<string, string>;
  /** Registered in discovery (health check passed). */
  registered: boolean;
  labels: Record<string, string>;
  createdAt: string;
}

/** A host as the scheduler sees it (from the hosts service in discovery). */
export interface HostInfo {
  id: string;
  /** Agent API: `http://addr:port` (TCP with token) or `unix:///path`. */
  agentUrl: string;
  /** The address other hosts and the router use to reach published ports. */
  address: string;
  capacity: { memory: number; cpus: number };
  labels: Record<string, string>;
}

export type JobEvent = { type: 'upsert'; job: Job } | { type: 'remove'; jobId: string };

export interface SchedulerClient {
  putFormation(f: FormationInput): Promise<Formation>;
  deleteFormation(id: string): Promise<void>;
  getFormation(id: string): Promise<Formation | null>;
  listFormations(): Promise<Formation[]>;
  listJobs(filter?: { formationId?: string; labels?: Record<string, string> }): Promise<Job[]>;
  watchJobs(signal?: AbortSignal): AsyncIterable<JobEvent>;
}
