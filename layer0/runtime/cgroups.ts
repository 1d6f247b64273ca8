// Reads a container's cgroup v1 files (stats, the OOM-kill counter) and removes the instance's
// cgroup parent. runc creates and deletes each container's own cgroups.
import { readFileSync, rmdirSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import type { ContainerStats } from './types.ts';

const ROOT = '/sys/fs/cgroup';
const CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'blkio', 'devices', 'freezer', 'systemd', 'hugetlb', 'net_cls', 'perf_event', 'net_prio', 'unified'];

function readNum(path: string): number {
  try {
    return Number(readFileSync(path, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

/** Kernel ≥ 4.13 counts OOM kills in memory.oom_control; read it before `runc delete`. */
export function oomKillCount(cgroupsPath: string): number {
  try {
    const text = readFileSync(`${ROOT}/memory${cgroupsPath}/memory.oom_control`, 'utf8');
    return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function systemCpuNs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const ticks = line.split(/\s+/).slice(1, 8).reduce((a, b) => a + Number(b), 0);
  return ticks * 1e7; // USER_HZ is 100 on Linux: 1 tick = 10 ms
}

export function readStats(cgroupsPath: string): ContainerStats {
  const mem = `${ROOT}/memory${cgroupsPath}`;
  const limit = readNum(`${mem}/memory.limit_in_bytes`);
  const pidsMax = (() => {
    try {
      const v = readFileSync(`${ROOT}/pids${cgroupsPath}/pids.max`, 'utf8').trim();
      return v === 'max' ? 0 : Number(v);
    } catch {
      return 0;
    }
  })();
  return {
    read: new Date().toISOString(),
    cpuTotalNs: readNum(`${ROOT}/cpuacct${cgroupsPath}/cpuacct.usage`),
    cpuSystemNs: systemCpuNs(),
    onlineCpus: cpus().length,
    memoryUsage: readNum(`${mem}/memory.usage_in_bytes`),
    // The kernel reports "no limit" as a huge page-aligned number.
    memoryLimit: limit > 2 ** 62 ? 0 : limit,
    memoryMaxUsage: readNum(`${mem}/memory.max_usage_in_bytes`),
    pids: readNum(`${ROOT}/pids${cgroupsPath}/pids.current`),
    pidsLimit: pidsMax,
  };
}

/** Removes `/<prefix>` under every controller once no container cgroup is left in it. */
export function removeCgroupParent(prefix: string): void {
  for (const c of CONTROLLERS) {
    const dir = `${ROOT}/${c}/${prefix}`;
    try {
      for (const child of readdirSync(dir, { withFileTypes: true })) {
        if (child.isDirectory()) rmdirSync(`${dir}/${child.name}`);
      }
      rmdirSync(dir);
    } catch {
      /* absent or still busy */
    }
  }
}

/** Pids in a container's cgroup (any controller that has it), e.g. an orphan whose runc state was lost. */
export function cgroupPids(cgroupsPath: string): number[] {
  const pids = new Set<number>();
  for (const c of ['pids', 'memory', 'cpu', 'freezer']) {
    try {
      for (const l of readFileSync(`${ROOT}/${c}${cgroupsPath}/cgroup.procs`, 'utf8').split('\n')) if (l.trim()) pids.add(Number(l));
    } catch {
      /* no such cgroup under this controller */
    }
  }
  return [...pids];
}

/**
 * SIGKILLs every process of a container's cgroup until it is empty (a fork racing the kill is
 * caught by the next pass), then removes its cgroup under every controller. Returns the pids killed.
 */
export async function killCgroup(cgroupsPath: string, timeoutMs = 5000): Promise<number[]> {
  const killed = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (let left = cgroupPids(cgroupsPath); left.length && Date.now() < deadline; left = cgroupPids(cgroupsPath)) {
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        /* gone already */
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const c of CONTROLLERS) {
    try {
      rmdirSync(`${ROOT}/${c}${cgroupsPath}`);
    } catch {
      /* absent (or, past the deadline, still busy) */
    }
  }
  return [...killed];
}

/** The container cgroups (`<runc id>` names) under the instance's parent, from every controller. */
export function childCgroups(prefix: string): string[] {
  const out = new Set<string>();
  for (const c of CONTROLLERS) {
    try {
      for (const e of readdirSync(`${ROOT}/${c}/${prefix}`, { withFileTypes: true })) if (e.isDirectory()) out.add(e.name);
    } catch {
      /* absent */
    }
  }
  return [...out];
}
