// The runtime's records → Docker's JSON views: container inspect and summary (`ps`), status
// strings, images, stats, events, log timestamps. Pure functions of their inputs and `now`.
import type { ContainerRecord, ContainerStats, ImageRecord, PortBinding, RuntimeEvent } from '../runtime/types.ts';
import type { DockerExtra } from './docker-json.ts';

export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Moby's units.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(ms / 60_000);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(ms / 3_600_000);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

const since = (t: string | null, now: number) => humanDuration(Math.max(0, now - (t ? Date.parse(t) : now)));

/** Moby's State.String(): `Up 5 seconds`, `Exited (0) 2 minutes ago`, `Created`, … */
export function statusString(r: ContainerRecord, now = Date.now()): string {
  const s = r.state;
  switch (s.status) {
    case 'running': return `Up ${since(s.startedAt, now)}`;
    case 'restarting': return `Restarting (${s.exitCode}) ${since(s.finishedAt, now)} ago`;
    case 'removing': return 'Removal In Progress';
    case 'dead': return 'Dead';
    case 'created': return 'Created';
    default: return s.finishedAt ? `Exited (${s.exitCode}) ${since(s.finishedAt, now)} ago` : 'Exited (0)';
  }
}

function extraOf(r: ContainerRecord): DockerExtra {
  const e = r.extra as Partial<DockerExtra>;
  return { Config: e.Config ?? {}, HostConfig: e.HostConfig ?? {} };
}

function exposedPorts(r: ContainerRecord): { port: number; protocol: string }[] {
  const keys = Object.keys((extraOf(r).Config.ExposedPorts as Record<string, unknown> | undefined) ?? {});
  return keys.map((k) => ({ port: Number(k.split('/')[0]), protocol: k.split('/')[1] ?? 'tcp' }));
}

function boundPorts(r: ContainerRecord): PortBinding[] {
  return r.state.status === 'running' || r.state.status === 'restarting' ? r.network?.ports ?? [] : [];
}

/** NetworkSettings.Ports: `{"80/tcp": [{HostIp, HostPort}]}`, null for exposed-only ports. */
export function portMap(r: ContainerRecord): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  if (r.state.status !== 'running') return out;
  for (const p of exposedPorts(r)) out[`${p.port}/${p.protocol}`] = null;
  for (const b of boundPorts(r)) {
    const key = `${b.containerPort}/${b.protocol}`;
    (out[key] ??= []).push({ HostIp: b.hostIp || '0.0.0.0', HostPort: String(b.hostPort) });
  }
  return out;
}

export function containerSummary(r: ContainerRecord, now = Date.now()) {
  const bound = boundPorts(r);
  const ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = bound.map((b) => ({
    IP: b.hostIp || '0.0.0.0', PrivatePort: b.containerPort, PublicPort: b.hostPort, Type: b.protocol,
  }));
  for (const p of exposedPorts(r)) {
    if (!bound.some((b) => b.containerPort === p.port && b.protocol === p.protocol)) ports.push({ PrivatePort: p.port, Type: p.protocol });
  }
  const net = r.network;
  return {
    Id: r.id,
    Names: [`/${r.spec.name}`],
    Image: r.spec.image,
    ImageID: r.imageId,
    Command: r.spec.args.join(' '),
    Created: Math.floor(Date.parse(r.created) / 1000),
    Ports: ports,
    Labels: r.spec.labels,
    State: r.state.status,
    Status: statusString(r, now),
    HostConfig: { NetworkMode: (extraOf(r).HostConfig.NetworkMode as string | undefined) ?? 'bridge' },
    NetworkSettings: { Networks: net && net.mode === 'bridge' ? { bridge: endpoint(r) } : {} },
    Mounts: [],
    // Extensions (clients ignore unknown fields): what a scheduler would otherwise inspect each job for.
    RestartCount: r.state.restartCount,
    ExitCode: r.state.exitCode,
    StartedAt: r.state.startedAt,
  };
}

function endpoint(r: ContainerRecord) {
  const n = r.network;
  return {
    IPAMConfig: null, Links: null, Aliases: null, NetworkID: '', EndpointID: n?.ip ? r.id : '',
    Gateway: n?.gateway ?? '', IPAddress: n?.ip ?? '', IPPrefixLen: n?.prefixLength ?? 0,
    IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: n?.mac ?? '', DriverOpts: null,
  };
}

export function containerInspect(r: ContainerRecord) {
  const { Config, HostConfig } = extraOf(r);
  const s = r.state;
  const n = r.state.status === 'running' ? r.network : null;
  const hostname = r.spec.hostname || r.id.slice(0, 12);
  return {
    Id: r.id,
    Created: r.created,
    Path: r.spec.args[0],
    Args: r.spec.args.slice(1),
    State: {
      Status: s.status,
      Running: s.status === 'running' || s.status === 'restarting',
      Paused: false,
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.status === 'running' ? s.pid : 0,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt ?? ZERO_TIME,
      FinishedAt: s.finishedAt ?? ZERO_TIME,
    },
    Image: r.imageId,
    ResolvConfPath: '', HostnamePath: '', HostsPath: '',
    LogPath: r.logPath,
    Name: `/${r.spec.name}`,
    RestartCount: s.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '', ProcessLabel: '', AppArmorProfile: '',
    ExecIDs: null,
    HostConfig,
    GraphDriver: { Name: 'overlay2', Data: null },
    Mounts: r.spec.binds.map((b) => ({ Type: 'bind', Source: b.source, Destination: b.destination, Mode: b.readonly ? 'ro' : '', RW: !b.readonly, Propagation: 'rprivate' })),
    Config: { ...Config, Hostname: hostname, Env: Config.Env ?? r.spec.env, Cmd: Config.Cmd ?? null, Image: Config.Image ?? r.spec.image, Labels: r.spec.labels, Tty: r.spec.tty },
    NetworkSettings: {
      Bridge: '', SandboxID: '', SandboxKey: n?.netnsPath ?? '', HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
      Ports: portMap(r),
      IPAddress: n?.ip ?? '', IPPrefixLen: n?.prefixLength ?? 0, Gateway: n?.gateway ?? '', MacAddress: n?.mac ?? '',
      GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, IPv6Gateway: '', EndpointID: n?.ip ? r.id : '',
      Networks: n && n.mode === 'bridge' ? { bridge: endpoint(r) } : {},
    },
  };
}

export function imageSummary(img: ImageRecord, containers = -1) {
  return {
    Id: img.id, ParentId: img.parent ?? '', RepoTags: img.tags, RepoDigests: [],
    Created: Math.floor(Date.parse(img.created) / 1000), Size: img.size, SharedSize: -1, VirtualSize: img.size,
    Labels: img.config.Labels, Containers: containers,
  };
}

export function imageInspect(img: ImageRecord, totalSize = img.size) {
  return {
    Id: img.id, RepoTags: img.tags, RepoDigests: [], Parent: img.parent ?? '', Comment: img.comment,
    Created: img.created, DockerVersion: '', Author: '',
    Config: { ...img.config, Env: img.config.Env.length ? img.config.Env : null, ExposedPorts: Object.keys(img.config.ExposedPorts).length ? img.config.ExposedPorts : null },
    Architecture: 'amd64', Os: 'linux', Size: totalSize, VirtualSize: totalSize,
    GraphDriver: { Name: 'overlay2', Data: null },
    RootFS: { Type: 'layers', Layers: [img.layer] },
    Metadata: { LastTagTime: ZERO_TIME },
  };
}

function cpuStats(s: ContainerStats | null) {
  return {
    cpu_usage: { total_usage: s?.cpuTotalNs ?? 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
    system_cpu_usage: s?.cpuSystemNs ?? 0,
    online_cpus: s?.onlineCpus ?? 0,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
}

/** Docker's stats object; `prev` fills precpu_stats (zeroes on the first sample); no limit → the host's memory. */
/** A container's memory limit as Docker shows it: the host's memory when it has none. */
export const memoryLimitOf = (limit: number, hostMemory: number) => limit || hostMemory;

export function statsJson(r: ContainerRecord, s: ContainerStats | null, prev: ContainerStats | null, hostMemory = 0) {
  return {
    name: `/${r.spec.name}`,
    id: r.id,
    read: s?.read ?? ZERO_TIME,
    preread: prev?.read ?? ZERO_TIME,
    pids_stats: s ? { current: s.pids, ...(s.pidsLimit > 0 ? { limit: s.pidsLimit } : {}) } : {},
    blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null, io_queue_recursive: null, io_service_time_recursive: null, io_wait_time_recursive: null, io_merged_recursive: null, io_time_recursive: null, sectors_recursive: null },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(s),
    precpu_stats: cpuStats(prev),
    memory_stats: s ? { usage: s.memoryUsage, max_usage: s.memoryMaxUsage, limit: memoryLimitOf(s.memoryLimit, hostMemory), stats: {} } : {},
    networks: {},
  };
}

export function eventJson(e: RuntimeEvent) {
  const time = Number(e.timeNano / 1_000_000_000n);
  const legacy = e.type === 'container' ? { status: e.action, id: e.id, from: e.attributes.image ?? '' } : {};
  return { ...legacy, Type: e.type, Action: e.action, Actor: { ID: e.id, Attributes: e.attributes }, scope: 'local', time, timeNano: Number(e.timeNano) };
}

/** Any RFC 3339 time (conmon writes a local offset) → Docker's `2006-01-02T15:04:05.000000000Z`. */
export function dockerTimestamp(t: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(t);
  if (!m) return t;
  const frac = (m[2] ?? '').slice(0, 9).padEnd(9, '0');
  const zone = m[3] ?? 'Z';
  const base = zone === 'Z' || /^[+-]00:?00$/.test(zone) ? m[1] : new Date(`${m[1]}${zone}`).toISOString().slice(0, 19);
  return `${base}.${frac}Z`;
}
