// What every app process's container gets, whichever path starts it (the formation's jobs, a
// one-off from `run` or `run/attach`, the release phase): the stack's user `app` (10001), no
// capabilities at all (Kubernetes' "restricted" profile; binding $PORT > 1024 needs none), a pids
// limit and a CPU weight (DESIGN.md "Isolation"). Operators set the limits with SLIPWAY_PIDS_LIMIT
// and SLIPWAY_CPU_SHARES.
import { SlipwayError } from '../../../layer0/common/errors.ts';

/** `uid:gid` of the stack's `app` user (deploy/build-stack): numeric, so images without it in /etc/passwd run as it too. */
export const APP_USER = '10001:10001';
export const APP_CAP_DROP = ['ALL'];
/** Processes and threads per container: a fork bomb stops here, far below the host's pid_max. */
export const DEFAULT_PIDS_LIMIT = 512;
/** cgroup cpu.shares of a process with no CPU size: one share, the weight of one host process. */
export const DEFAULT_CPU_SHARES = 1024;

export interface ProcessLimits {
  pidsLimit?: number;
  /** cpu.shares of a process with no `cpu` size (one with a size gets 1024 × cpu). */
  cpuShares?: number;
}

/** The pids limit and CPU weight of a process of `cpus` CPUs (0 = no size). */
export function processLimits(cpus: number, o: ProcessLimits = {}): { pidsLimit: number; cpuShares: number } {
  const cpuShares = cpus > 0 ? Math.max(2, Math.round(cpus * 1024)) : (o.cpuShares ?? DEFAULT_CPU_SHARES);
  return { pidsLimit: o.pidsLimit ?? DEFAULT_PIDS_LIMIT, cpuShares };
}

function intSetting(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new SlipwayError('invalid_params', `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

/** SLIPWAY_PIDS_LIMIT (16..65536, default 512), SLIPWAY_CPU_SHARES (2..262144, default 1024). */
export function processLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): ProcessLimits {
  const pidsLimit = intSetting(env, 'SLIPWAY_PIDS_LIMIT', 16, 65_536);
  const cpuShares = intSetting(env, 'SLIPWAY_CPU_SHARES', 2, 262_144);
  return { ...(pidsLimit !== undefined ? { pidsLimit } : {}), ...(cpuShares !== undefined ? { cpuShares } : {}) };
}
