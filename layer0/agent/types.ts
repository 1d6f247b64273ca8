// The agent's public types: how to reach it, and the shapes its client returns. The wire API
// is Docker's (see README.md); these are the parts layer 1 names.
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';

/** The label naming a container's network isolation group (containers of one group reach each other, of different ones never). */
export { ISOLATION_LABEL } from '../network/types.ts';

/** `socketPath` (the local agent), or `host`/`port`/`token` (another host's agent over TCP). */
export interface AgentClientOptions {
  socketPath?: string;
  host?: string;
  port?: number;
  token?: string;
  /** Sent with every request (a scheduler's fencing token). */
  headers?: Record<string, string>;
}

export type ContainerCreateRequest = Docker.ContainerCreateOptions;

export interface LogChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** An interactive exec with a TTY (`execTty`). */
export interface TtyExec {
  id: string;
  /** The hijacked connection: what is written goes to the process's terminal, what is read is the terminal's output; it ends when the process does. */
  stream: Duplex;
  /** Sizes the terminal (the process gets SIGWINCH). */
  resize(cols: number, rows: number): Promise<void>;
  /** Its exit code once it has ended (read after `stream` ended), null while it runs. */
  exitCode(): Promise<number | null>;
}

/** One line of `GET /events`. */
export interface AgentEvent {
  Type: 'container' | 'image';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

/**
 * Labels that make a container a scheduled job (set by layer0/scheduler, read by the agent):
 * a job with a service is registered in discovery once its health check passes, and
 * deregistered and drained before it is stopped.
 */
export const JOB_LABELS = {
  service: 'slipway.service',
  /** `tcp` (connect to the first published port) or `http` (then `GET <health-path>` below 500). */
  health: 'slipway.health',
  healthPath: 'slipway.health-path',
  healthTimeoutMs: 'slipway.health-timeout-ms',
  healthIntervalMs: 'slipway.health-interval-ms',
  drainSec: 'slipway.drain-sec',
} as const;

/** Mutating calls may carry the caller's fencing token; an agent refuses tokens older than the newest it has seen. */
export const FENCING_HEADER = 'x-slipway-fencing-token';

/** One container's latest numbers (`GET /slipway/metrics`; the agent samples its cgroups every few seconds). */
export interface ContainerMetrics {
  id: string;
  name: string;
  labels: Record<string, string>;
  status: string;
  startedAt: string;
  restartCount: number;
  oomKilled: boolean;
  exitCode: number;
  /** When the numbers were read (ISO time); empty before the first sample or when not running. */
  read: string;
  /** Percent of one CPU over the last interval (200 = two CPUs busy). */
  cpuPercent: number;
  cpuTotalNs: number;
  memoryUsage: number;
  /** The cgroup's limit, or the host's memory when none. */
  memoryLimit: number;
  pids: number;
}
