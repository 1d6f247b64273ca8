// System endpoints: `/_ping`, `/version`, `/info`, and the `/events` stream (replay from
// `since`, live until `until` or the client leaves).
import { arch } from 'node:os';
import { hostCgroups } from '../../runtime/cgroups.ts';
import type { RuntimeEvent } from '../../runtime/types.ts';
import { eventJson } from '../docker-views.ts';
import { nowNano } from '../events.ts';
import { API_VERSION, ENGINE_VERSION, MIN_API_VERSION, sendEmpty, sendJson } from '../http.ts';
import { checkFilterNames, matchLabels, parseFilters, unixTimeNanoParam, type Filters } from '../query.ts';
import type { Ctx, Route } from '../router.ts';
import type { AgentDeps } from './deps.ts';

const goArch = () => (arch() === 'x64' ? 'amd64' : arch());

function ping({ req, res }: Ctx): void {
  res!.writeHead(200, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': req.method === 'HEAD' ? 0 : 2,
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
    'Docker-Experimental': 'false',
    Swarm: 'inactive',
  });
  res!.end(req.method === 'HEAD' ? undefined : 'OK');
}

export function systemRoutes(d: AgentDeps): Route[] {
  const version = () => {
    const details = {
      ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: 'slipway', GoVersion: `node${process.versions.node}`,
      Os: 'linux', Arch: goArch(), KernelVersion: d.host.kernelVersion, BuildTime: '', Experimental: 'false',
    };
    return {
      Platform: { Name: 'Slipway Engine' },
      Components: [
        { Name: 'Engine', Version: ENGINE_VERSION, Details: details },
        { Name: 'runc', Version: d.host.runcVersion, Details: { GitCommit: d.host.runcCommit } },
      ],
      Version: ENGINE_VERSION, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: 'slipway',
      GoVersion: details.GoVersion, Os: 'linux', Arch: goArch(), KernelVersion: d.host.kernelVersion, Experimental: false, BuildTime: '',
    };
  };

  const info = () => {
    const all = d.runtime.list();
    const running = all.filter((c) => c.state.status === 'running' || c.state.status === 'restarting').length;
    return {
      ID: d.host.id, Name: d.host.name,
      Containers: all.length, ContainersRunning: running, ContainersPaused: 0, ContainersStopped: all.length - running,
      Images: d.images.list().length,
      Driver: 'overlay2', DriverStatus: [['Backing Filesystem', 'overlayfs']],
      Plugins: { Volume: [], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['k8s-file'] },
      MemoryLimit: true, SwapLimit: true, CpuCfsPeriod: true, CpuCfsQuota: true, CPUShares: true, CPUSet: false, PidsLimit: true,
      IPv4Forwarding: true, Debug: false, OomKillDisable: false, NFd: 0, NGoroutines: 0, SystemTime: new Date().toISOString(),
      LoggingDriver: 'k8s-file', CgroupDriver: 'cgroupfs', CgroupVersion: hostCgroups().mode === 'v2' ? '2' : '1', NEventsListener: 0,
      KernelVersion: d.host.kernelVersion, OperatingSystem: d.host.operatingSystem, OSVersion: '', OSType: 'linux', Architecture: goArch(),
      NCPU: d.capacity.cpus, MemTotal: d.capacity.memory, IndexServerAddress: '', RegistryConfig: null,
      DockerRootDir: d.host.rootDir, HttpProxy: '', HttpsProxy: '', NoProxy: '', Labels: [], ExperimentalBuild: false,
      ServerVersion: ENGINE_VERSION, Runtimes: { runc: { path: 'runc' } }, DefaultRuntime: 'runc',
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true, Isolation: '', InitBinary: '',
      ContainerdCommit: { ID: '' }, RuncCommit: { ID: d.host.runcCommit }, InitCommit: { ID: '' },
      SecurityOptions: ['name=seccomp,profile=builtin'], Warnings: [],
    };
  };

  return [
    { method: 'GET', path: '/_ping', handler: ping },
    // Slipway extension: a new scheduler leader presents its fencing token to every agent at
    // once (the server's fencing guard records it), so a deposed leader is refused everywhere.
    { method: 'POST', path: '/slipway/fence', handler: ({ res }) => sendEmpty(res!, 204) },
    { method: 'GET', path: '/version', handler: ({ res }) => sendJson(res!, 200, version()) },
    { method: 'GET', path: '/info', handler: ({ res }) => sendJson(res!, 200, info()) },
    { method: 'GET', path: '/events', handler: (ctx) => events(d, ctx) },
  ];
}

const EVENT_FILTERS = ['type', 'container', 'image', 'event', 'action', 'label', 'scope'] as const;

export function eventMatches(e: RuntimeEvent, f: Filters): boolean {
  const any = (key: string, vals: string[]) => !f.has(key) || f.get(key)!.some((v) => vals.includes(v));
  const name = e.attributes.name ?? '';
  if (!any('type', [e.type])) return false;
  if (!any('event', [e.action, e.action.split(':')[0]!]) || !any('action', [e.action])) return false;
  if (f.has('container') && (e.type !== 'container' || !f.get('container')!.some((v) => e.id.startsWith(v) || v === name || v === `/${name}`))) return false;
  if (f.has('image') && !f.get('image')!.some((v) => v === e.attributes.image || e.id.startsWith(v) || (e.type === 'image' && v === name))) return false;
  return matchLabels(f.get('label'), e.attributes);
}

function events(d: AgentDeps, { res, query }: Ctx): void {
  const f = parseFilters(query.get('filters'));
  checkFilterNames(f, EVENT_FILTERS);
  const since = unixTimeNanoParam(query, 'since');
  const until = unixTimeNanoParam(query, 'until');
  const r = res!;
  r.writeHead(200, { 'Content-Type': 'application/json' });
  r.flushHeaders();
  const send = (e: RuntimeEvent) => {
    if ((until === undefined || e.timeNano <= until) && eventMatches(e, f)) r.write(`${JSON.stringify(eventJson(e))}\n`);
  };
  if (since !== undefined) for (const e of d.events.since(since)) send(e);
  const now = nowNano();
  if (until !== undefined && until <= now) {
    r.end();
    return;
  }
  const unsubscribe = d.events.subscribe(send);
  const timer = until !== undefined ? setTimeout(() => r.end(), Number((until - now) / 1_000_000n) + 1) : null;
  r.on('close', () => {
    unsubscribe();
    if (timer) clearTimeout(timer);
  });
}
