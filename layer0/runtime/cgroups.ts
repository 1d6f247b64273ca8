// One interface over cgroup v1 (legacy and hybrid hosts) and v2 (the unified hierarchy of a
// stock Debian 12, Ubuntu 22.04+): container stats, the OOM-kill counter, the pids of a
// container's cgroup, killing and removing it, and the instance's parent `/<prefix>`. runc
// creates each container's cgroup (cgroupfs driver, limits from config.json) and deletes it;
// the runtime reads them here. The version is chosen by what the host has, on first use.
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { ContainerStats } from './types.ts';

export type CgroupMode = 'v2' | 'hybrid' | 'v1';

export interface Cgroups {
  /** v2: unified only; hybrid: v1 controllers plus an empty unified tree; v1: legacy. */
  readonly mode: CgroupMode;
  readonly root: string;
  /**
   * Controllers containers can use: v2 the root's cgroup.controllers (runc enables them in each
   * parent's cgroup.subtree_control on its way down, the root's included), v1 the mounted hierarchies.
   */
  controllers(): string[];
  readStats(cgroupsPath: string): ContainerStats;
  /** OOM kills in the container's cgroup (v1 memory.oom_control, v2 memory.events); read before `runc delete`. */
  oomKillCount(cgroupsPath: string): number;
  /** Pids in the container's cgroup, e.g. an orphan whose runc state was lost. */
  pids(cgroupsPath: string): number[];
  /** Removes the (empty) container cgroup, under every controller on v1. */
  remove(cgroupsPath: string): void;
  /** Container cgroup names under `/<prefix>`. */
  children(prefix: string): string[];
}

/** Controllers a container needs (v2 names; on v1 cpu comes with cpuacct). */
export const REQUIRED_CONTROLLERS = ['cpu', 'memory', 'pids'];

const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'blkio', 'devices', 'freezer', 'systemd', 'hugetlb', 'net_cls', 'perf_event', 'net_prio', 'unified', 'rdma', 'misc'];

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function readNum(path: string): number {
  return Number(readText(path)?.trim()) || 0;
}

/** `key value` lines (cpu.stat, memory.events, memory.stat) → one value, 0 when absent. */
export function flatKey(text: string | null, key: string): number {
  return Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text ?? '')?.[1] ?? 0);
}

/** "max" (v2) or a v1 "no limit" (a huge page-aligned number) → 0, meaning unlimited. */
function limitOf(text: string | null): number {
  const v = text?.trim();
  if (!v || v === 'max') return 0;
  const n = Number(v);
  return n > 2 ** 62 || !Number.isFinite(n) ? 0 : n;
}

function procsOf(path: string): number[] {
  return (readText(join(path, 'cgroup.procs')) ?? '').split('\n').filter((l) => l.trim()).map(Number);
}

function dirsIn(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** Removes a cgroup directory, its child cgroups first (v2 containers may nest their own). */
function rmCgroup(path: string): void {
  for (const d of dirsIn(path)) rmCgroup(join(path, d));
  try {
    rmdirSync(path);
  } catch {
    /* absent or still busy */
  }
}

function systemCpuNs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const ticks = line.split(/\s+/).slice(1, 8).reduce((a, b) => a + Number(b), 0);
  return ticks * 1e7; // USER_HZ is 100 on Linux: 1 tick = 10 ms
}

export function cgroupMode(root: string): CgroupMode {
  if (existsSync(join(root, 'cgroup.controllers'))) return 'v2';
  return existsSync(join(root, 'unified', 'cgroup.controllers')) ? 'hybrid' : 'v1';
}

function v2(root: string): Cgroups {
  const at = (p: string) => join(root, p);
  return {
    mode: 'v2', root,
    controllers: () => (readText(join(root, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter(Boolean),
    readStats(p) {
      const dir = at(p);
      return {
        read: new Date().toISOString(),
        cpuTotalNs: flatKey(readText(join(dir, 'cpu.stat')), 'usage_usec') * 1000,
        cpuSystemNs: systemCpuNs(),
        onlineCpus: cpus().length,
        memoryUsage: readNum(join(dir, 'memory.current')),
        memoryLimit: limitOf(readText(join(dir, 'memory.max'))),
        // memory.peak exists from Linux 5.19; before, no peak is known.
        memoryMaxUsage: readNum(join(dir, 'memory.peak')),
        pids: readNum(join(dir, 'pids.current')),
        pidsLimit: limitOf(readText(join(dir, 'pids.max'))),
      };
    },
    oomKillCount: (p) => flatKey(readText(join(at(p), 'memory.events')), 'oom_kill'),
    pids(p) {
      // Nested cgroups' processes too: cgroup.procs lists only the cgroup's own.
      const walk = (dir: string): number[] => [...procsOf(dir), ...dirsIn(dir).flatMap((d) => walk(join(dir, d)))];
      return [...new Set(walk(at(p)))];
    },
    remove: (p) => rmCgroup(at(p)),
    children: (prefix) => dirsIn(at(prefix)),
  };
}

function v1(root: string, mode: 'v1' | 'hybrid'): Cgroups {
  const at = (c: string, p: string) => join(root, c, p);
  const mounted = () => V1_CONTROLLERS.filter((c) => existsSync(join(root, c, 'cgroup.procs')));
  return {
    mode, root,
    controllers: () => mounted().filter((c) => c !== 'systemd' && c !== 'unified'),
    readStats(p) {
      const mem = at('memory', p);
      return {
        read: new Date().toISOString(),
        cpuTotalNs: readNum(join(at('cpuacct', p), 'cpuacct.usage')),
        cpuSystemNs: systemCpuNs(),
        onlineCpus: cpus().length,
        memoryUsage: readNum(join(mem, 'memory.usage_in_bytes')),
        memoryLimit: limitOf(readText(join(mem, 'memory.limit_in_bytes'))),
        memoryMaxUsage: readNum(join(mem, 'memory.max_usage_in_bytes')),
        pids: readNum(join(at('pids', p), 'pids.current')),
        pidsLimit: limitOf(readText(join(at('pids', p), 'pids.max'))),
      };
    },
    // Kernel ≥ 4.13 counts OOM kills in memory.oom_control.
    oomKillCount: (p) => flatKey(readText(join(at('memory', p), 'memory.oom_control')), 'oom_kill'),
    pids(p) {
      const out = new Set<number>();
      for (const c of ['pids', 'memory', 'cpu', 'freezer']) for (const pid of procsOf(at(c, p))) out.add(pid);
      return [...out];
    },
    remove(p) {
      for (const c of V1_CONTROLLERS) rmCgroup(at(c, p));
    },
    children(prefix) {
      const out = new Set<string>();
      for (const c of V1_CONTROLLERS) for (const d of dirsIn(at(c, prefix))) out.add(d);
      return [...out];
    },
  };
}

/** The cgroups of the host mounted at `root`, by what is there. */
export function openCgroups(root = '/sys/fs/cgroup'): Cgroups {
  const mode = cgroupMode(root);
  return mode === 'v2' ? v2(root) : v1(root, mode);
}

/** One line for people: `v2 (cpu io memory pids)`. */
export function describeCgroups(cg: Cgroups): string {
  return `${cg.mode} (${cg.controllers().join(' ') || 'no controllers'})`;
}

let host: Cgroups | null = null;
/** This host's cgroups, detected on first use (never at import). */
export function hostCgroups(): Cgroups {
  return (host ??= openCgroups());
}

export const readStats = (cgroupsPath: string, cg = hostCgroups()) => cg.readStats(cgroupsPath);
export const oomKillCount = (cgroupsPath: string, cg = hostCgroups()) => cg.oomKillCount(cgroupsPath);
export const cgroupPids = (cgroupsPath: string, cg = hostCgroups()) => cg.pids(cgroupsPath);
export const childCgroups = (prefix: string, cg = hostCgroups()) => cg.children(prefix);

/** Removes `/<prefix>` (and any container cgroup left empty in it). */
export function removeCgroupParent(prefix: string, cg = hostCgroups()): void {
  cg.remove(`/${prefix}`);
}

/**
 * Kills every process of a container's cgroup until it is empty (v2 with cgroup.kill does it in
 * one write; otherwise SIGKILL each pid, and a fork racing the kill is caught by the next pass),
 * then removes the cgroup. Returns the pids killed.
 */
export async function killCgroup(cgroupsPath: string, timeoutMs = 5000, cg = hostCgroups()): Promise<number[]> {
  const killed = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (let left = cg.pids(cgroupsPath); left.length && Date.now() < deadline; left = cg.pids(cgroupsPath)) {
    if (cg.mode === 'v2') {
      try {
        writeFileSync(join(cg.root, cgroupsPath, 'cgroup.kill'), '1');
        for (const pid of left) killed.add(pid);
        await new Promise((r) => setTimeout(r, 20));
        continue;
      } catch {
        /* before Linux 5.14: signal each pid */
      }
    }
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
  cg.remove(cgroupsPath);
  return [...killed];
}
