// Builds a container's OCI runtime config (config.json, runtime-spec 1.0.2) from its spec:
// namespaces, cgroup limits, capabilities, seccomp, masked /proc paths and the /etc files.
import { readFileSync } from 'node:fs';
import type { ContainerSpec } from './types.ts';
import { capabilitySet, resolveCapabilities } from './capabilities.ts';
import { seccompProfile } from './seccomp.ts';

export interface OciInputs {
  spec: ContainerSpec;
  /** Bundle-relative or absolute path of the merged overlay. */
  rootfs: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  env: string[];
  /** A prepared netns to join (bridge); null = a fresh empty one (none); 'host' = no netns. */
  netns: string | null | 'host';
  cgroupsPath: string;
  etcFiles: { hosts: string; hostname: string; resolvConf: string | null };
}

const MASKED = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
const CPU_PERIOD = 100_000;
/** As many open files as the agent may have itself (raising above its hard limit is refused). */
const NOFILE = (() => {
  try {
    const m = /Max open files\s+\S+\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return Math.min(Number(m?.[1] ?? 1048576), 1048576);
  } catch {
    return 1024;
  }
})();

/** The capabilities a container's processes (its own and exec'd ones) get. */
export function containerCapabilities(s: Pick<ContainerSpec, 'capAdd' | 'capDrop'>): string[] {
  return resolveCapabilities(s.capAdd, s.capDrop);
}

export function buildOciSpec(i: OciInputs) {
  const s = i.spec;
  const caps = containerCapabilities(s);
  const namespaces: { type: string; path?: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (i.netns !== 'host') namespaces.push(i.netns ? { type: 'network', path: i.netns } : { type: 'network' });
  const bind = (source: string, destination: string, ro = false) => ({
    destination, type: 'bind', source, options: ['rbind', 'rprivate', ro ? 'ro' : 'rw', 'nosuid', 'nodev'],
  });
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    bind(i.etcFiles.hosts, '/etc/hosts'),
    bind(i.etcFiles.hostname, '/etc/hostname'),
    ...(i.etcFiles.resolvConf ? [bind(i.etcFiles.resolvConf, '/etc/resolv.conf')] : []),
    ...s.binds.map((b) => bind(b.source, b.destination, b.readonly)),
  ];
  const memory = s.memory > 0
    ? { limit: s.memory, swap: s.memorySwap === 0 ? s.memory * 2 : s.memorySwap }
    : undefined;
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: s.tty,
      user: i.user,
      args: s.args,
      env: i.env,
      cwd: s.workingDir || '/',
      capabilities: capabilitySet(caps),
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: NOFILE, soft: NOFILE }],
      noNewPrivileges: true,
    },
    root: { path: i.rootfs, readonly: s.readonlyRootfs },
    hostname: s.hostname,
    mounts,
    linux: {
      namespaces,
      cgroupsPath: i.cgroupsPath,
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        ...(memory ? { memory } : {}),
        cpu: {
          ...(s.nanoCpus > 0 ? { quota: Math.round((s.nanoCpus * CPU_PERIOD) / 1e9), period: CPU_PERIOD } : {}),
          ...(s.cpuShares > 0 ? { shares: s.cpuShares } : {}),
        },
        pids: { limit: s.pidsLimit > 0 ? s.pidsLimit : -1 },
      },
      seccomp: seccompProfile(caps),
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
    },
  };
}
