// `slipway doctor`'s checks, one small function each over a `HostProbe` (so tests can feed a
// fake host): what the platform needs from the kernel, the ports, the disk and the programs,
// each with what to fix. `slipway up` runs the fast ones before it starts anything.
import type { Cgroups } from '../../../../layer0/runtime/index.ts';
import { REQUIRED_CONTROLLERS } from '../../../../layer0/runtime/index.ts';

export type Level = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  level: Level;
  detail: string;
  /** What to do about a warn or fail. */
  fix?: string;
}

/** What the checks read from the host; the real one is in probe.ts. */
export interface HostProbe {
  env: NodeJS.ProcessEnv;
  uid: number;
  nodeVersion: string;
  readFile(path: string): string | null;
  exists(path: string): boolean;
  cgroups(): Cgroups;
  /** Null when the program is missing; else its first output line. */
  version(program: string, args?: string[]): Promise<string | null>;
  /** True when host:port can be listened on now. */
  portFree(host: string, port: number): Promise<boolean>;
  /** The pid of this SLIPWAY_HOME's running platform (its ports are then its own), or null. */
  platformPid(): number | null;
  /** Bytes free to unprivileged writers on the filesystem holding `path` (or its nearest existing parent). */
  freeBytes(path: string): number;
}

export interface Check {
  name: string;
  /** Slow or reaching outside the host: only with `slipway doctor --network`. */
  network?: boolean;
  run(h: HostProbe): Promise<CheckResult | CheckResult[]>;
}

const GiB = 1024 ** 3;
const INSTALL = 'run `bash deploy/install-deps` as root (`npm start` does)';
const ok = (name: string, detail: string): CheckResult => ({ name, level: 'ok', detail });
const bad = (name: string, detail: string, fix: string, level: Level = 'fail'): CheckResult => ({ name, level, detail, fix });

export function checkRoot(h: HostProbe): CheckResult {
  return h.uid === 0 ? ok('root', 'running as root') : bad('root', `running as uid ${h.uid}`, 'run Slipway as root (it makes namespaces, mounts, cgroups and iptables rules)');
}

export function checkNode(h: HostProbe): CheckResult {
  const major = Number(h.nodeVersion.split('.')[0]);
  return major >= 20 ? ok('node', `Node ${h.nodeVersion}`) : bad('node', `Node ${h.nodeVersion}; Slipway needs 20`, 'run `bash deploy/install-deps` as root: it installs Node 20 from the npm registry');
}

export function checkOverlay(h: HostProbe): CheckResult {
  if (/\toverlay$/m.test(h.readFile('/proc/filesystems') ?? '')) return ok('overlayfs', 'in /proc/filesystems');
  // A stock Debian kernel has it as a module, loaded by the first overlay mount.
  const release = h.readFile('/proc/sys/kernel/osrelease')?.trim() ?? '';
  if (/\/overlay\.ko(\.[a-z]+)?:/.test(h.readFile(`/lib/modules/${release}/modules.dep`) ?? '')) return ok('overlayfs', 'a module, loaded by the first mount');
  return bad('overlayfs', 'neither in /proc/filesystems nor a module of this kernel', 'use a kernel with CONFIG_OVERLAY_FS (any distribution kernel has it), or `modprobe overlay`');
}

export function checkNamespaces(h: HostProbe): CheckResult {
  const missing = ['pid', 'net', 'mnt', 'ipc', 'uts', 'user'].filter((ns) => !h.exists(`/proc/self/ns/${ns}`));
  if (missing.length) return bad('namespaces', `missing: ${missing.join(' ')}`, 'use a kernel built with CONFIG_PID_NS, CONFIG_NET_NS, CONFIG_USER_NS (any distribution kernel is)');
  const maxUser = Number(h.readFile('/proc/sys/user/max_user_namespaces')?.trim() ?? '0');
  if (!(maxUser > 0)) return bad('namespaces', 'pid net mnt ipc uts; user namespaces disabled (max_user_namespaces=0)', 'Slipway runs without them; to enable: `sysctl -w user.max_user_namespaces=15000`', 'warn');
  return ok('namespaces', 'pid net mnt ipc uts user');
}

export function checkCgroups(h: HostProbe): CheckResult {
  const cg = h.cgroups();
  const have = cg.controllers();
  const need = cg.mode === 'v2' ? REQUIRED_CONTROLLERS : [...REQUIRED_CONTROLLERS, 'cpuacct'];
  const missing = need.filter((c) => !have.includes(c));
  const detail = `${cg.mode}${cg.mode === 'hybrid' ? ' (v1 controllers, unified tree unused)' : ''}: ${have.join(' ') || 'no controllers'}`;
  if (!missing.length) return ok('cgroups', detail);
  const fix = cg.mode === 'v2'
    ? `the kernel offers no ${missing.join(', ')} controller in ${cg.root}/cgroup.controllers: boot a kernel with them (any distribution kernel has them) and no cgroup_disable= on its command line`
    : `mount the missing v1 hierarchies under ${cg.root} (or boot with the unified hierarchy)`;
  return bad('cgroups', `${detail}; missing ${missing.join(' ')}`, fix);
}

export async function checkIptables(h: HostProbe): Promise<CheckResult> {
  const v = await h.version('iptables');
  if (!v) return bad('iptables', 'not installed', INSTALL);
  const backend = /\((nf_tables|legacy)\)/.exec(v)?.[1] ?? 'unknown backend';
  return ok('iptables', `${v.replace(/^iptables\s+/, '').replace(/\s*\(.*\)/, '')}, ${backend} backend`);
}

export function checkIpForward(h: HostProbe): CheckResult {
  const v = h.readFile('/proc/sys/net/ipv4/ip_forward')?.trim();
  if (v === '1') return ok('ip_forward', 'on');
  // The bridge network turns it on at start (layer0/network/host-network.ts); only say so.
  return { name: 'ip_forward', level: 'ok', detail: `${v ?? 'unknown'} now; \`slipway up\` sets net.ipv4.ip_forward=1 (containers reach out through NAT)` };
}

/** The platform's ports (DESIGN.md), each from its env override. */
export function platformPorts(env: NodeJS.ProcessEnv): { name: string; envName: string; port: number }[] {
  const p = (envName: string, def: number) => ({ envName, port: Number(env[envName] ?? def) });
  return [
    { name: 'api', ...p('SLIPWAY_API_PORT', 7000) },
    { name: 'http', ...p('SLIPWAY_HTTP_PORT', 8080) },
    { name: 'https', ...p('SLIPWAY_HTTPS_PORT', 8443) },
    { name: 'blobstore', ...p('SLIPWAY_BLOB_PORT', 7001) },
    { name: 'router admin', ...p('SLIPWAY_ROUTER_ADMIN_PORT', 7002) },
  ];
}

export async function checkPorts(h: HostProbe): Promise<CheckResult[]> {
  const host = h.env.SLIPWAY_BIND ?? '127.0.0.1';
  const pid = h.platformPid();
  if (pid) return [ok('ports', `${platformPorts(h.env).map((p) => p.port).join(', ')}: held by this home's running platform (pid ${pid})`)];
  return Promise.all(platformPorts(h.env).map(async ({ name, envName, port }) => {
    const label = `port ${port}`;
    if (!Number.isInteger(port) || port < 1 || port > 65535) return bad(label, `${envName}=${h.env[envName]} is not a port`, `set ${envName} to 1-65535`);
    return (await h.portFree(host, port))
      ? ok(label, `${name} on ${host}:${port} is free`)
      : bad(label, `${name}: ${host}:${port} is in use`, `stop what listens there (\`ss -ltnp 'sport = :${port}'\`) or set ${envName}`);
  }));
}

export function checkDisk(h: HostProbe): CheckResult {
  const home = h.env.SLIPWAY_HOME ?? '/var/lib/slipway';
  const free = h.freeBytes(home);
  const detail = `${(free / GiB).toFixed(1)} GiB free under ${home}`;
  if (free < 1 * GiB) return bad('disk', detail, 'free space there or set SLIPWAY_HOME to a bigger filesystem (the stack, slugs and images need a few GiB)');
  if (free < 5 * GiB) return bad('disk', detail, 'builds and images will fill it soon; 5 GiB or more is comfortable', 'warn');
  return ok('disk', detail);
}

/** `runc --version` and friends: present, and which version. */
export function checkProgram(program: string, pkg: string, args = ['--version']): Check {
  return {
    name: program,
    async run(h) {
      const v = await h.version(program, args);
      return v ? ok(program, v) : bad(program, `not installed (Debian package ${pkg})`, INSTALL);
    },
  };
}

/** Every check, in the order they print. */
export const CHECKS: Check[] = [
  { name: 'root', run: async (h) => checkRoot(h) },
  { name: 'node', run: async (h) => checkNode(h) },
  { name: 'overlayfs', run: async (h) => checkOverlay(h) },
  { name: 'namespaces', run: async (h) => checkNamespaces(h) },
  { name: 'cgroups', run: async (h) => checkCgroups(h) },
  { name: 'iptables', run: checkIptables },
  { name: 'ip_forward', run: async (h) => checkIpForward(h) },
  { name: 'ports', run: checkPorts },
  { name: 'disk', run: async (h) => checkDisk(h) },
  checkProgram('runc', 'runc'),
  checkProgram('conmon', 'conmon'),
  checkProgram('redis-server', 'redis-server'),
];

export async function runChecks(h: HostProbe, checks: Check[]): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const c of checks) {
    try {
      const r = await c.run(h);
      out.push(...(Array.isArray(r) ? r : [r]));
    } catch (err) {
      out.push(bad(c.name, `the check failed: ${err instanceof Error ? err.message : String(err)}`, 'report this as a bug'));
    }
  }
  return out;
}
