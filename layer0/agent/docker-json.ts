// Docker's create request → the runtime's ContainerSpec, merged with the image config as Moby
// does (daemon/create.go merge, verifyPlatformContainerResources). Pure; the routes call it.
import { z } from 'zod';
import { SlipwayError } from '../common/errors.ts';
import { normalizeCapabilities } from '../runtime/capabilities.ts';
import type { ContainerSpecInput, ImageRecord, PortBinding } from '../runtime/types.ts';

const StrSlice = z.union([z.array(z.string()), z.string().transform((s) => [s])]).nullish();
const StrMap = z.record(z.string(), z.string()).nullish();
const int = z.number().int().nullish();

const HostConfigSchema = z.looseObject({
  Memory: int, MemorySwap: int, NanoCpus: int, CpuShares: int, PidsLimit: int,
  PortBindings: z.record(z.string(), z.array(z.looseObject({ HostIp: z.string().nullish(), HostPort: z.string().nullish() })).nullish()).nullish(),
  PublishAllPorts: z.boolean().nullish(),
  RestartPolicy: z.looseObject({ Name: z.string().nullish(), MaximumRetryCount: int }).nullish(),
  AutoRemove: z.boolean().nullish(),
  NetworkMode: z.string().nullish(),
  ReadonlyRootfs: z.boolean().nullish(),
  Binds: z.array(z.string()).nullish(),
  CapAdd: z.array(z.string()).nullish(),
  CapDrop: z.array(z.string()).nullish(),
  Privileged: z.boolean().nullish(),
});

export const CreateBodySchema = z.looseObject({
  Hostname: z.string().nullish(), Domainname: z.string().nullish(), User: z.string().nullish(),
  Tty: z.boolean().nullish(), OpenStdin: z.boolean().nullish(), StdinOnce: z.boolean().nullish(),
  AttachStdin: z.boolean().nullish(), AttachStdout: z.boolean().nullish(), AttachStderr: z.boolean().nullish(),
  Env: z.array(z.string()).nullish(), Cmd: StrSlice, Entrypoint: StrSlice,
  Image: z.string().nullish(), WorkingDir: z.string().nullish(), Labels: StrMap,
  ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
  StopSignal: z.string().nullish(), StopTimeout: int,
  HostConfig: HostConfigSchema.nullish(),
});
export type CreateBody = z.infer<typeof CreateBodySchema>;

/** What the agent keeps beside the spec (record.extra) so inspect can echo Docker's view. */
export interface DockerExtra {
  Config: Record<string, unknown>;
  HostConfig: Record<string, unknown>;
}

export const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const MIN_MEMORY = 6 * 1024 * 1024;
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const bad = (msg: string) => new SlipwayError('invalid_params', msg);

export function validateName(name: string): string {
  if (!NAME_RE.test(name)) throw bad(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.replace(/^\//, '');
}

/** `8080`, `8080/tcp`, `53/udp` → port and protocol. */
export function parsePortKey(key: string): { port: number; protocol: 'tcp' | 'udp' } {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key.trim());
  if (!m) throw bad(`invalid port specification: ${JSON.stringify(key)}`);
  const port = Number(m[1]);
  if (port < 1 || port > 65535) throw bad(`invalid port specification: ${JSON.stringify(key)}`);
  const protocol = (m[2] ?? 'tcp').toLowerCase();
  if (protocol === 'sctp') throw bad('sctp ports are not supported');
  return { port, protocol: protocol as 'tcp' | 'udp' };
}

function hostPort(v: string | null | undefined, key: string): number {
  if (!v) return 0;
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw bad(`invalid host port ${JSON.stringify(v)} for ${key} (port ranges are not supported)`);
  return Number(v);
}

function hostIp(v: string | null | undefined): string {
  if (!v || v === '0.0.0.0' || v === '::') return '';
  if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(v) || v.split('.').some((o) => Number(o) > 255)) {
    throw bad(`invalid IP address in port binding: ${JSON.stringify(v)}`);
  }
  return v;
}

function envKey(e: string): string {
  const i = e.indexOf('=');
  return i < 0 ? e : e.slice(0, i);
}

export function validateResources(hc: NonNullable<CreateBody['HostConfig']>, ncpu: number): void {
  const memory = hc.Memory ?? 0;
  const swap = hc.MemorySwap ?? 0;
  if (memory !== 0 && memory < MIN_MEMORY) throw bad('Minimum memory limit allowed is 6MB');
  if (swap > 0 && memory === 0) throw bad('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (swap > 0 && swap < memory) throw bad('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (swap < -1) throw bad('invalid MemorySwap: must be -1, 0 or a byte count');
  const nano = hc.NanoCpus ?? 0;
  if (nano < 0 || nano > ncpu * 1e9) throw bad(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  if ((hc.CpuShares ?? 0) < 0) throw bad(`invalid CPU shares (${hc.CpuShares}): must be positive`);
}

function restartPolicy(hc: NonNullable<CreateBody['HostConfig']>): { name: 'no' | 'on-failure' | 'always' | 'unless-stopped'; maximumRetryCount: number } {
  const name = hc.RestartPolicy?.Name || 'no';
  const max = hc.RestartPolicy?.MaximumRetryCount ?? 0;
  if (!['no', 'on-failure', 'always', 'unless-stopped'].includes(name)) {
    throw bad(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (max < 0) throw bad('invalid restart policy: maximum retry count cannot be negative');
  if (max > 0 && name !== 'on-failure') throw bad("invalid restart policy: maximum retry count can only be used with 'on-failure'");
  if (hc.AutoRemove && name !== 'no') throw bad("can't create 'AutoRemove' container with restart policy");
  return { name: name as 'no', maximumRetryCount: max };
}

function networkMode(v: string | null | undefined): 'bridge' | 'none' | 'host' {
  if (!v || v === 'default' || v === 'bridge') return 'bridge';
  if (v === 'none' || v === 'host') return v;
  throw new SlipwayError('not_found', `network ${v} not found`);
}

function binds(list: string[] | null | undefined): { source: string; destination: string; readonly: boolean }[] {
  return (list ?? []).map((b) => {
    const [source = '', destination = '', mode = ''] = b.split(':');
    if (!source.startsWith('/') || !destination.startsWith('/')) throw bad(`invalid bind mount ${JSON.stringify(b)}: only absolute host paths are supported`);
    return { source, destination, readonly: mode.split(',').includes('ro') };
  });
}

/** Merges the request with the image (Moby's rules) and validates it; throws 400s. */
export function buildSpec(body: CreateBody, name: string, image: ImageRecord, ncpu: number): { spec: ContainerSpecInput; extra: DockerExtra; warnings: string[] } {
  const hc = body.HostConfig ?? {};
  const ic = image.config;
  validateResources(hc, ncpu);
  // Privileged would give up the capability bounding set, seccomp and device rules at once.
  if (hc.Privileged) throw bad('privileged containers are not supported');
  const capAdd = normalizeCapabilities(hc.CapAdd ?? []);
  const capDrop = normalizeCapabilities(hc.CapDrop ?? []);
  const userEnv = body.Env ?? [];
  const userKeys = new Set(userEnv.map(envKey));
  const env = [...userEnv, ...ic.Env.filter((e) => !userKeys.has(envKey(e)))];
  const labels = { ...ic.Labels, ...(body.Labels ?? {}) };
  let cmd = body.Cmd ?? null;
  let entrypoint = body.Entrypoint ?? null;
  if (!entrypoint || entrypoint.length === 0) {
    if (!cmd || cmd.length === 0) cmd = ic.Cmd;
    if (body.Entrypoint == null) entrypoint = ic.Entrypoint;
  }
  const args = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (args.length === 0) throw bad('no command specified');
  const exposed: Record<string, object> = {};
  for (const k of [...Object.keys(ic.ExposedPorts), ...Object.keys(body.ExposedPorts ?? {})]) {
    const p = parsePortKey(k);
    exposed[`${p.port}/${p.protocol}`] = {};
  }
  const mode = networkMode(hc.NetworkMode);
  const ports: PortBinding[] = [];
  const warnings: string[] = [];
  for (const [key, list] of Object.entries(hc.PortBindings ?? {})) {
    const p = parsePortKey(key);
    exposed[`${p.port}/${p.protocol}`] = {};
    for (const b of list ?? [{}]) ports.push({ containerPort: p.port, protocol: p.protocol, hostIp: hostIp(b.HostIp), hostPort: hostPort(b.HostPort, key) });
  }
  if (hc.PublishAllPorts) {
    for (const k of Object.keys(exposed)) {
      const p = parsePortKey(k);
      if (!ports.some((b) => b.containerPort === p.port && b.protocol === p.protocol)) ports.push({ containerPort: p.port, protocol: p.protocol, hostIp: '', hostPort: 0 });
    }
  }
  if (mode !== 'bridge' && ports.length) {
    warnings.push(`Published ports are discarded when using ${mode} network mode`);
    ports.length = 0;
  }
  const tty = body.Tty ?? false;
  const processEnv = [...env];
  if (!processEnv.some((e) => envKey(e) === 'PATH')) processEnv.push(DEFAULT_PATH);
  if (tty && !processEnv.some((e) => envKey(e) === 'TERM')) processEnv.push('TERM=xterm');
  const memory = hc.Memory ?? 0;
  const memorySwap = (hc.MemorySwap ?? 0) === 0 && memory > 0 ? 2 * memory : hc.MemorySwap ?? 0;
  const policy = restartPolicy(hc);
  const pidsLimit = (hc.PidsLimit ?? 0) > 0 ? hc.PidsLimit! : 0;
  const stopSignal = body.StopSignal || ic.StopSignal || 'SIGTERM';
  const spec: ContainerSpecInput = {
    name,
    image: body.Image!,
    args,
    env: processEnv,
    user: body.User || ic.User,
    workingDir: body.WorkingDir || ic.WorkingDir || '/',
    hostname: body.Hostname ?? '',
    labels,
    tty,
    openStdin: body.OpenStdin ?? false,
    memory,
    memorySwap,
    nanoCpus: hc.NanoCpus ?? 0,
    cpuShares: hc.CpuShares ?? 0,
    pidsLimit,
    capAdd,
    capDrop,
    network: mode,
    ports,
    restartPolicy: policy,
    autoRemove: hc.AutoRemove ?? false,
    readonlyRootfs: hc.ReadonlyRootfs ?? false,
    stopSignal,
    stopTimeout: body.StopTimeout ?? 10,
    binds: binds(hc.Binds),
  };
  const Config = {
    ...body,
    HostConfig: undefined,
    NetworkingConfig: undefined,
    name: undefined,
    Hostname: body.Hostname ?? '',
    Domainname: body.Domainname ?? '',
    User: spec.user,
    AttachStdin: body.AttachStdin ?? false,
    AttachStdout: body.AttachStdout ?? false,
    AttachStderr: body.AttachStderr ?? false,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: tty,
    OpenStdin: spec.openStdin,
    StdinOnce: body.StdinOnce ?? false,
    Env: env,
    Cmd: cmd,
    Image: body.Image,
    WorkingDir: body.WorkingDir || ic.WorkingDir,
    Entrypoint: entrypoint,
    Labels: labels,
    StopSignal: stopSignal,
    StopTimeout: body.StopTimeout ?? undefined,
  };
  const HostConfig = {
    ...hc,
    NetworkMode: hc.NetworkMode || 'bridge',
    Memory: memory,
    MemorySwap: memorySwap,
    NanoCpus: spec.nanoCpus,
    CpuShares: spec.cpuShares,
    PidsLimit: pidsLimit || null,
    CapAdd: capAdd.length ? capAdd : null,
    CapDrop: capDrop.length ? capDrop : null,
    Privileged: false,
    PortBindings: hc.PortBindings ?? {},
    RestartPolicy: { Name: policy.name, MaximumRetryCount: policy.maximumRetryCount },
    AutoRemove: spec.autoRemove,
    PublishAllPorts: hc.PublishAllPorts ?? false,
    ReadonlyRootfs: spec.readonlyRootfs,
    Binds: hc.Binds ?? null,
  };
  return { spec, extra: { Config: JSON.parse(JSON.stringify(Config)), HostConfig: JSON.parse(JSON.stringify(HostConfig)) }, warnings };
}
