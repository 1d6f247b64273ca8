// The scheduler's hands on hosts: one agent client per host (TCP with the cluster token, or the
// local unix socket), carrying the leader's fencing token; observing a host's jobs and starting
// and stopping them in the agent's Docker API.
import { connectAgent, type AgentClient } from '../agent/client.ts';
import { FENCING_HEADER, JOB_LABELS } from '../agent/types.ts';
import { LABEL_FORMATION, LABEL_INDEX, LABEL_JOB } from './labels.ts';
import type { Instance } from '../discovery/types.ts';
import { MEMORY_LABEL, type HostInfo, type Job, type JobSpec, type JobState } from './types.ts';

export function hostFromInstance(i: Instance): HostInfo {
  let labels: Record<string, string> = {};
  try {
    labels = JSON.parse(i.meta.labels ?? '{}') as Record<string, string>;
  } catch {
    /* a host with bad labels still runs jobs */
  }
  return {
    id: i.id,
    agentUrl: i.addr,
    address: i.meta.address ?? '127.0.0.1',
    capacity: { memory: Number(i.meta.memory) || 0, cpus: Number(i.meta.cpus) || 0 },
    labels,
  };
}

export function agentFor(host: HostInfo, token: string | undefined, fencingToken?: number): AgentClient {
  const headers = fencingToken === undefined ? undefined : { [FENCING_HEADER]: String(fencingToken) };
  if (host.agentUrl.startsWith('unix://')) return connectAgent({ socketPath: host.agentUrl.slice('unix://'.length), headers });
  const u = new URL(host.agentUrl);
  return connectAgent({ host: u.hostname, port: Number(u.port || 2375), token, headers });
}

const STATE: Record<string, JobState> = { created: 'starting', running: 'running', restarting: 'restarting', exited: 'exited', dead: 'exited', removing: 'stopping' };

interface Summary {
  Id: string;
  State: string;
  Labels: Record<string, string>;
  Created: number;
  Ports: { PrivatePort: number; PublicPort?: number; Type: string }[];
  RestartCount?: number;
  ExitCode?: number;
}

/**
 * The host's jobs (containers the scheduler made), as observed state, and the memory that its
 * other running containers hold (those labelled with MEMORY_LABEL: one-off processes).
 */
export async function observeHost(agent: AgentClient, host: HostInfo, registered: ReadonlySet<string>): Promise<{ jobs: Job[]; reservedMemory: number }> {
  const all = (await agent.listContainers({ all: true })) as unknown as Summary[];
  const list = all.filter((c) => c.Labels?.[LABEL_FORMATION] !== undefined);
  const reservedMemory = all
    .filter((c) => c.Labels?.[LABEL_FORMATION] === undefined && (c.State === 'running' || c.State === 'created' || c.State === 'restarting'))
    .reduce((sum, c) => sum + (Number(c.Labels?.[MEMORY_LABEL]) || 0), 0);
  const jobs = list.map((c) => ({
    id: c.Id,
    formationId: c.Labels[LABEL_FORMATION]!,
    jobName: c.Labels[LABEL_JOB] ?? '',
    hostId: host.id,
    state: STATE[c.State] ?? 'exited',
    reason: '',
    restartCount: c.RestartCount ?? 0,
    exitCode: c.State === 'running' || c.State === 'created' ? null : (c.ExitCode ?? null),
    ports: Object.fromEntries(c.Ports.filter((p) => p.PublicPort).map((p) => [String(p.PrivatePort), `${host.address}:${p.PublicPort}`])),
    registered: registered.has(c.Id),
    labels: c.Labels,
    createdAt: new Date(c.Created * 1000).toISOString(),
  }));
  return { jobs, reservedMemory };
}

/** Makes sure the host has the job's image: imports it from `imageUrl` when it lacks it. */
export async function ensureImage(agent: AgentClient, spec: JobSpec): Promise<void> {
  try {
    await agent.inspectImage(spec.image);
    return;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404 || !spec.imageUrl) throw err;
  }
  const at = spec.image.lastIndexOf(':');
  const [repo, tag] = at > spec.image.lastIndexOf('/') ? [spec.image.slice(0, at), spec.image.slice(at + 1)] : [spec.image, 'latest'];
  await agent.importImageFromUrl(spec.imageUrl, { repo, tag, parent: spec.imageParent, ...(spec.imageUrlUntrusted ? { untrusted: true } : {}) });
}

/** Creates and starts one job; resolves with its container id. */
export async function startJob(agent: AgentClient, formationId: string, jobName: string, spec: JobSpec, index = 0): Promise<string> {
  await ensureImage(agent, spec);
  const labels: Record<string, string> = { ...spec.labels };
  let env = spec.env;
  if (index > 0) {
    labels[LABEL_INDEX] = String(index);
    // Replaces a same-named entry: getenv(3) returns the first match, not the last.
    if (spec.indexEnv) {
      const name = spec.indexEnv.slice(0, spec.indexEnv.indexOf('=') + 1);
      env = [...env.filter((e) => !e.startsWith(name)), spec.indexEnv.replaceAll('{index}', String(index))];
    }
  }
  if (spec.service) {
    labels[JOB_LABELS.service] = spec.service;
    labels[JOB_LABELS.health] = spec.health?.type ?? 'tcp';
    if (spec.health) {
      if (spec.health.type === 'http') labels[JOB_LABELS.healthPath] = spec.health.path;
      labels[JOB_LABELS.healthTimeoutMs] = String(spec.health.timeoutMs);
      labels[JOB_LABELS.healthIntervalMs] = String(spec.health.intervalMs);
    }
  }
  labels[JOB_LABELS.drainSec] = String(spec.drainSec);
  const portBindings = Object.fromEntries(spec.ports.map((p) => [`${p}/tcp`, [{ HostIp: '', HostPort: '' }]]));
  const id = await agent.createContainer({
    name: `${formationId}.${jobName}.${Math.random().toString(36).slice(2, 10)}`,
    Image: spec.image,
    Cmd: spec.cmd,
    Env: env,
    User: spec.user || undefined,
    WorkingDir: spec.workingDir || undefined,
    Labels: labels,
    ExposedPorts: Object.fromEntries(spec.ports.map((p) => [`${p}/tcp`, {}])),
    StopTimeout: spec.stopGraceSec,
    HostConfig: {
      Memory: spec.memory,
      NanoCpus: Math.round(spec.cpus * 1e9),
      ...(spec.cpuShares ? { CpuShares: spec.cpuShares } : {}),
      ...(spec.pidsLimit ? { PidsLimit: spec.pidsLimit } : {}),
      ...(spec.capDrop?.length ? { CapDrop: spec.capDrop } : {}),
      PortBindings: portBindings,
      RestartPolicy: { Name: spec.restart, MaximumRetryCount: 0 },
      NetworkMode: 'bridge',
    },
  });
  try {
    await agent.startContainer(id);
  } catch (err) {
    await agent.removeContainer(id, true).catch(() => undefined);
    throw err;
  }
  return id;
}

/**
 * Deregister and drain (the agent does both in its stop), SIGTERM, SIGKILL after the grace the
 * job was created with (its StopTimeout, so it holds even once its formation is gone); remove.
 */
export async function stopJob(agent: AgentClient, jobId: string): Promise<void> {
  await agent.stopContainer(jobId).catch((err: unknown) => {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  });
  await agent.removeContainer(jobId, true);
}
