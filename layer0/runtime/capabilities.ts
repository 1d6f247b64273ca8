// Capabilities of a container's process: Docker's default set, adjusted by the create request's
// CapAdd/CapDrop exactly as Moby does (oci/caps TweakCapabilities), so the agent stays a faithful
// Docker API; layer 1 asks for CapDrop ALL for app processes. Used by oci-spec.ts and exec.ts.
import { SlipwayError } from '../common/errors.ts';

// Docker's default capability set (moby oci/caps/defaults.go): what every container gets, no more.
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability Linux knows (capability(7), up to CAP_CHECKPOINT_RESTORE, 5.9). */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];
const KNOWN = new Set(ALL_CAPABILITIES);

/** `net_raw`, `NET_RAW`, `CAP_NET_RAW` → `CAP_NET_RAW`; `all` → `ALL`; anything else is a 400. */
export function normalizeCapabilities(names: string[]): string[] {
  const out = new Set<string>();
  for (const raw of names) {
    const upper = raw.trim().toUpperCase();
    if (upper === 'ALL') {
      out.add('ALL');
      continue;
    }
    const cap = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
    if (!KNOWN.has(cap)) throw new SlipwayError('invalid_params', `unknown capability: ${JSON.stringify(raw)}`);
    out.add(cap);
  }
  return [...out];
}

/**
 * The container's capability list from Docker's defaults and the request (Moby's rules): CapAdd
 * ALL = every capability but the dropped ones; CapDrop ALL = only the added ones; else defaults
 * minus drops plus adds. Names are already normalized.
 */
export function resolveCapabilities(capAdd: string[] = [], capDrop: string[] = []): string[] {
  if (capAdd.length === 0 && capDrop.length === 0) return DEFAULT_CAPABILITIES;
  const adds = capAdd.filter((c) => c !== 'ALL');
  if (capAdd.includes('ALL')) return ALL_CAPABILITIES.filter((c) => !capDrop.includes(c));
  if (capDrop.includes('ALL')) return [...new Set(adds)];
  return [...new Set([...DEFAULT_CAPABILITIES.filter((c) => !capDrop.includes(c)), ...adds])];
}

/**
 * The OCI `process.capabilities`: the same list as bounding, effective and permitted (runc
 * applies them after it switches to the container's user, so a non-root user gets them too);
 * never inheritable or ambient, so an exec'd program cannot pick them up (CVE-2022-24769).
 */
export function capabilitySet(caps: string[] = DEFAULT_CAPABILITIES) {
  return { bounding: caps, effective: caps, permitted: caps, inheritable: [] as string[], ambient: [] as string[] };
}
