// A one-off process's container (`heroku run`), shared by POST /run (output as ndjson) and the
// interactive GET /run/attach: the least loaded live host (discovery `slipway-hosts`), the
// release's image there (imported from its imageUrl when missing, as the scheduler does), and a
// container of it with the release's config, DYNO=run.N, labelled `slipway.type=run` and outside
// any formation, so the scheduler leaves it alone. AutoRemove: it goes once its process ends.
// It runs as the formation's processes do (deploy/process-isolation.ts: `app`, no capabilities,
// a pids limit, a CPU weight), and holds its memory on its host: it goes only where that memory
// is free, and carries the label the scheduler charges to the host (MEMORY_LABEL).
import { randomBytes } from 'node:crypto';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { Logger } from '../../../layer0/common/logger.ts';
import { connectAgent, ISOLATION_LABEL, type AgentClient } from '../../../layer0/agent/index.ts';
import { HOSTS_SERVICE, type Instance } from '../../../layer0/discovery/index.ts';
import { MEMORY_LABEL } from '../../../layer0/scheduler/types.ts';
import { APP_CAP_DROP, APP_USER, DEFAULT_MEMORY, LABEL_APP, LABEL_APP_ID, LABEL_RELEASE, LABEL_TYPE, parseMemory, processLimits, slugEnv, type Release } from '../deploy/index.ts';
import { isTenantImport } from '../release-images.ts';
import type { DeployDeps } from '../routes/deps.ts';
import type { App } from '../types.ts';

export const RUN_TYPE = 'run';
/** How long a host's agent may take to answer `info` when choosing where to run. */
const PICK_TIMEOUT_MS = 2000;

export interface OneOffOptions {
  /** The container's command (its process 1): processCommand's, as the app's processes run theirs. */
  cmd: string[];
  /** More environment, over the release's config. */
  env?: Record<string, string>;
  memory?: string;
  /** Aborted when the client leaves before the container exists: stop there. */
  signal?: AbortSignal;
}

export interface OneOff {
  /** The container, created, not started. */
  id: string;
  dyno: string;
  release: Release & { image: string };
  host: Instance;
  agent: AgentClient;
  /** Force-removes the container (already gone is fine); never throws. */
  remove(): Promise<void>;
}

export const brief = (err: unknown) => ((err as Error)?.message ?? String(err)).slice(0, 300);
const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;

export function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms).unref()))]).finally(() => clearTimeout(timer));
}

/** The app's current release, or 409 when it has none that can run. */
export async function runnableRelease(d: DeployDeps, app: App): Promise<Release & { image: string }> {
  const release = await d.deploy.currentRelease(app);
  if (!release || !release.image) throw new SlipwayError('conflict', `${app.name} has no deployed release to run: create one first (slipway releases:create)`);
  return release as Release & { image: string };
}

function agentOf(host: Instance, token: string | undefined): AgentClient {
  if (host.addr.startsWith('unix://')) return connectAgent({ socketPath: host.addr.slice('unix://'.length) });
  const u = new URL(host.addr);
  return connectAgent({ host: u.hostname, port: Number(u.port || 2375), token });
}

/** Memory the host's running containers hold (their MEMORY_LABEL: formation jobs and one-offs). */
async function heldMemory(agent: AgentClient): Promise<{ held: number; running: number }> {
  const list = await agent.listContainers({ all: true });
  const live = list.filter((c) => c.State === 'running' || c.State === 'created' || c.State === 'restarting');
  return { held: live.reduce((sum, c) => sum + (Number(c.Labels?.[MEMORY_LABEL]) || 0), 0), running: live.length };
}

/**
 * The live host whose agent answers, with `memory` free of its advertised capacity (as the
 * scheduler's fits-memory counts it), running the fewest containers (ties: discovery's order).
 * A host that advertises no capacity is not filtered.
 */
async function pickHost(d: DeployDeps, memory: number): Promise<{ host: Instance; agent: AgentClient }> {
  if (!d.discovery) throw new SlipwayError('unavailable', 'this controller cannot reach the hosts (no discovery)');
  const hosts = await d.discovery.instances(HOSTS_SERVICE);
  if (hosts.length === 0) throw new SlipwayError('unavailable', 'no live host to run on');
  const scored = await Promise.all(hosts.map(async (host) => {
    const agent = agentOf(host, d.agentToken);
    try {
      const { held, running } = await within(heldMemory(agent), PICK_TIMEOUT_MS);
      const capacity = Number(host.meta.memory) || 0;
      return { host, agent, load: running, fits: capacity === 0 || capacity - held >= memory };
    } catch {
      return null;
    }
  }));
  const live = scored.filter((s) => s !== null);
  if (live.length === 0) throw new SlipwayError('unavailable', `none of the ${hosts.length} hosts' agents answered`);
  const fit = live.filter((s) => s.fits);
  // 409 rather than 503: the message is the answer (a 5xx hides it), and it holds until memory frees up.
  if (fit.length === 0) throw new SlipwayError('conflict', `no host has ${Math.round(memory / 2 ** 20)} MiB of memory free for this process: scale down, or run it with less memory (--memory)`);
  return fit.reduce((a, b) => (b.load < a.load ? b : a));
}

/** The release's image on the host: there already, or imported from its imageUrl. */
async function ensureImage(agent: AgentClient, host: Instance, release: Release & { image: string }): Promise<void> {
  try {
    await agent.inspectImage(release.image);
    return;
  } catch (err) {
    if (statusOf(err) !== 404) throw new SlipwayError('unavailable', `host ${host.id}: inspecting image ${release.image} failed: ${brief(err)}`);
  }
  if (!release.imageUrl) throw new SlipwayError('unavailable', `host ${host.id} lacks image ${release.image}, and release v${release.version} has no imageUrl to fetch it from`);
  const image = release.image;
  const at = image.lastIndexOf(':');
  const [repo, tag] = at > image.lastIndexOf('/') ? [image.slice(0, at), image.slice(at + 1)] : [image, 'latest'];
  try {
    await agent.importImageFromUrl(release.imageUrl, { repo, tag, ...(release.imageParent ? { parent: release.imageParent } : {}), ...(isTenantImport(image) ? { untrusted: true } : {}) });
  } catch (err) {
    throw new SlipwayError('unavailable', `host ${host.id}: importing ${image} from its imageUrl failed: ${brief(err)}`);
  }
}

const left = (signal?: AbortSignal) => {
  if (signal?.aborted) throw new SlipwayError('unavailable', 'the client left before the process started');
};

/** Creates the container of a one-off process of `release` (see the file's comment); the caller starts it. */
export async function createOneOff(d: DeployDeps, log: Logger, app: Pick<App, 'id' | 'name'>, release: Release & { image: string }, o: OneOffOptions): Promise<OneOff> {
  const memory = parseMemory(o.memory ?? DEFAULT_MEMORY);
  const limits = processLimits(0, d.deploy.limits);
  const { host, agent } = await pickHost(d, memory);
  left(o.signal);
  await ensureImage(agent, host, release);
  left(o.signal);
  const n = await d.deploy.store.redis.incr(d.deploy.store.key(app.id, 'run-seq'));
  const dyno = `${RUN_TYPE}.${n}`;
  const env = { ...release.config, ...o.env, ...slugEnv(release), SLIPWAY_APP: app.name, SLIPWAY_RELEASE: `v${release.version}`, DYNO: dyno };
  let id: string;
  try {
    id = await agent.createContainer({
      name: `${app.id}.${RUN_TYPE}-${n}.${randomBytes(4).toString('hex')}`,
      Image: release.image,
      Cmd: o.cmd,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      // In the app's isolation group: a one-off (or release phase) reaches the app's processes, no other app's.
      Labels: { [LABEL_APP]: app.name, [LABEL_APP_ID]: app.id, [ISOLATION_LABEL]: app.id, [LABEL_RELEASE]: `v${release.version}`, [LABEL_TYPE]: RUN_TYPE, 'slipway.dyno': dyno, [MEMORY_LABEL]: String(memory) },
      User: APP_USER,
      Tty: false,
      OpenStdin: false,
      StopTimeout: 1,
      HostConfig: {
        Memory: memory,
        CapDrop: APP_CAP_DROP,
        PidsLimit: limits.pidsLimit,
        CpuShares: limits.cpuShares,
        NetworkMode: 'bridge',
        AutoRemove: true,
        RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      },
    });
  } catch (err) {
    throw new SlipwayError('unavailable', `host ${host.id}: creating the container failed: ${brief(err)}`);
  }
  const remove = () => agent.removeContainer(id, true).catch((err: unknown) => log.warn({ err, app: app.name, container: id }, 'removing a one-off process failed'));
  return { id, dyno, release, host, agent, remove };
}
