// A container's seccomp filter: the maintained Docker/Podman allow-list that Debian's
// golang-github-containers-common ships (/usr/share/containers/seccomp.json, read once per
// process), converted to the OCI `linux.seccomp` section for the container's capabilities the way
// Moby does (profiles/seccomp setupSeccomp), then made as strict as Docker's own default for a
// container without CAP_SYS_ADMIN (see TIGHTEN). Called by oci-spec.ts for every container.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SlipwayError } from '../common/errors.ts';

export const SECCOMP_PROFILE_PATH = '/usr/share/containers/seccomp.json';

const ArgSchema = z.object({ index: z.number().int(), value: z.number(), valueTwo: z.number().default(0), op: z.string() });
const FilterSchema = z.object({
  caps: z.array(z.string()).nullish(),
  arches: z.array(z.string()).nullish(),
  minKernel: z.string().nullish(),
}).nullish();
const ProfileSchema = z.object({
  defaultAction: z.string(),
  defaultErrnoRet: z.number().int().nullish(),
  archMap: z.array(z.object({ architecture: z.string(), subArchitectures: z.array(z.string()).nullish() })).nullish(),
  syscalls: z.array(z.object({
    names: z.array(z.string()).min(1),
    action: z.string(),
    errnoRet: z.number().int().nullish(),
    args: z.array(ArgSchema).nullish(),
    includes: FilterSchema,
    excludes: FilterSchema,
  })),
});
type Profile = z.infer<typeof ProfileSchema>;

export interface OciSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo: number; op: string }[];
}
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: OciSyscall[];
}

const EPERM = 1;
const ENOSYS = 38;
/** CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (clone(2)). */
const CLONE_NEW = [0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000];
const CLONE_NAMESPACE_FLAGS = CLONE_NEW.reduce((a, b) => a | b, 0);

/**
 * Where containers-common (0.50) is looser than Docker's default profile: it lets every container
 * create namespaces and call the mount API (Podman runs containers in containers and trusts
 * capabilities alone). A user namespace gives its creator every capability over the new network
 * and mount namespaces it makes, the way into the nf_tables and overlayfs privilege escalations,
 * so without CAP_SYS_ADMIN we apply Docker's rules (moby profiles/seccomp/default.json):
 * `clone` only without namespace flags, `clone3` ENOSYS (its flags sit in memory a filter cannot
 * read; libc then falls back to clone), the namespace and mount calls EPERM. The kernel keyring is
 * not namespaced: Docker refuses it to every container, and so do we.
 */
const TIGHTEN = {
  needsSysAdmin: [
    'unshare', 'setns', 'mount', 'umount', 'umount2', 'pivot_root', 'mount_setattr', 'move_mount', 'open_tree',
    'fsopen', 'fsconfig', 'fsmount', 'fspick',
  ],
  never: ['keyctl', 'add_key', 'request_key'],
};

const GO_ARCH: Record<string, { go: string; scmp: string }> = {
  x64: { go: 'amd64', scmp: 'SCMP_ARCH_X86_64' },
  arm64: { go: 'arm64', scmp: 'SCMP_ARCH_AARCH64' },
  ia32: { go: '386', scmp: 'SCMP_ARCH_X86' },
};

let loaded: { path: string; profile: Profile } | null = null;
const converted = new Map<string, OciSeccomp>();

function loadProfile(path: string): Profile {
  if (loaded?.path === path) return loaded.profile;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SlipwayError('runtime_error', `the seccomp profile ${path} is missing: install the Debian package golang-github-containers-common (deploy/install-deps does)`, { cause: err });
  }
  let profile: Profile;
  try {
    profile = ProfileSchema.parse(JSON.parse(text));
  } catch (err) {
    throw new SlipwayError('runtime_error', `the seccomp profile ${path} is not a containers seccomp.json: ${(err as Error).message.slice(0, 300)}`, { cause: err });
  }
  loaded = { path, profile };
  converted.clear();
  return profile;
}

/** Moby's conditions: an entry applies when the arch and the capabilities (bounding set) match. */
function applies(entry: Profile['syscalls'][number], caps: ReadonlySet<string>, goArch: string): boolean {
  const ex = entry.excludes;
  const inc = entry.includes;
  if (ex?.arches?.includes(goArch)) return false;
  if (ex?.caps?.some((c) => caps.has(c))) return false;
  if (inc?.arches?.length && !inc.arches.includes(goArch)) return false;
  if (inc?.caps?.length && !inc.caps.every((c) => caps.has(c))) return false;
  // minKernel: every entry of the shipped profile predates the kernels Slipway supports (≥ 5.x).
  return true;
}

function convert(profile: Profile, caps: string[]): OciSeccomp {
  const arch = GO_ARCH[process.arch];
  if (!arch) throw new SlipwayError('runtime_error', `no seccomp architecture for ${process.arch}`);
  const capSet = new Set(caps);
  // The native architecture only, not archMap's sub-architectures (x86, x32): every extra one
  // makes runc build and patch another filter, which measured +40-60% on a container's start;
  // and a call through a 32-bit ABI then meets libseccomp's bad-arch action (kill), not a filter.
  const architectures = (profile.archMap ?? []).some((a) => a.architecture === arch.scmp) ? [arch.scmp] : [];
  const tighten = !capSet.has('CAP_SYS_ADMIN');
  const replaced = new Set([...TIGHTEN.never, ...(tighten ? [...TIGHTEN.needsSysAdmin, 'clone', 'clone3'] : [])]);
  const rules: OciSyscall[] = [];
  for (const entry of profile.syscalls) {
    if (!applies(entry, capSet, arch.go)) continue;
    const names = entry.names.filter((n) => !replaced.has(n));
    if (names.length === 0) continue;
    rules.push({
      names,
      action: entry.action,
      ...(entry.errnoRet != null ? { errnoRet: entry.errnoRet } : {}),
      ...(entry.args?.length ? { args: entry.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo, op: a.op })) } : {}),
    });
  }
  // The file lists some names both as plainly allowed and as refused without a capability (setns
  // without CAP_SYS_ADMIN): the refusal is the intent, and one action per unconditional name
  // keeps libseccomp from choosing between conflicting rules.
  const refused = new Set(rules.filter((r) => r.action !== 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
  const syscalls = rules
    .map((r) => (r.action === 'SCMP_ACT_ALLOW' && !r.args ? { ...r, names: r.names.filter((n) => !refused.has(n)) } : r))
    .filter((r) => r.names.length > 0);
  syscalls.push({ names: TIGHTEN.never, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM });
  if (tighten) {
    syscalls.push(
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      // EPERM rather than the default ENOSYS: "not permitted" is the truth, and what Docker answers.
      ...CLONE_NEW.map((flag) => ({ names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }] })),
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      { names: TIGHTEN.needsSysAdmin, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
    );
  }
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet != null ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures,
    syscalls,
  };
}

/** The OCI seccomp section for a container with these capabilities; converted once per set. */
export function seccompProfile(caps: string[], path = SECCOMP_PROFILE_PATH): OciSeccomp {
  const profile = loadProfile(path);
  const key = [...caps].sort().join(',');
  let out = converted.get(key);
  if (!out) {
    out = convert(profile, caps);
    converted.set(key, out);
  }
  return out;
}
