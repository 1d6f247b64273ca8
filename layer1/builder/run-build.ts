// One build in one container, through the agent API: create (stack image, user `app` with no
// capabilities, bridge network, memory limit, buildpacks/cache/CA binds, env), copy the source
// (re-owned to app) and env dir in, start, stream the output into the build log line by line,
// wait (15-minute limit, cancel), then read the slug and result.json out of the stopped container
// (the agent resolves /tmp/out inside its root and never follows a link out of it), and always
// remove the container. Called by the worker; knows no queue.
import { createReadStream } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { AgentClient } from '../../layer0/agent/client.ts';
import type { BlobClient } from '../blobstore/client.ts';
import { buildCacheDir, prepareBuildCache } from './cache.ts';
import { BUILDPACK_MOUNT, cloneBuildpack, displayUrl, isRemoteBuildpack, type ClonedBuildpack } from './buildpack-source.ts';
import { readOutputs, reownTar, skeletonTar } from './container-files.ts';
import { CONTAINER_CA_PATH, type HostBuildEnv } from './host-env.ts';
import { LineSplitter } from './lines.ts';
import type { StoredRequest } from './store.ts';
import type { BuildFailure, BuildLogLine, DriverResult } from './types.ts';

export const BUILD_LABEL = 'slipway.build';
export const RUNTIMES_MOUNT = '/slipway/runtimes';
export const APP_ID_LABEL = 'slipway.app-id';

export interface RunBuildDeps {
  agent: AgentClient;
  blobs: BlobClient;
  host: HostBuildEnv;
  /** Host dir bind-mounted read-only at /slipway/buildpacks. */
  buildpacksDir: string;
  /** `$SLIPWAY_HOME`: the app's build cache is buildCacheDir(home, appId). */
  home: string;
  image: string;
  /** Used when `image` is not on the agent (a host whose build image is not imported). */
  fallbackImage?: string;
  /** Host dir bound read-write at /slipway/runtimes (buildpacks/nodejs/lib/runtimes.sh). */
  runtimesDir?: string;
  stack: string;
  driver: string[];
  memoryBytes: number;
  /** Processes at once in the build container (0: no limit). */
  pidsLimit: number;
  timeoutMs: number;
  /** uid the build runs as and its files belong to (the stack's `app`, 10001). */
  appUid: number;
  /** Extra env for every build container (tests; proxies). */
  extraEnv?: Record<string, string>;
}

export interface BuildJob {
  id: string;
  appId: string;
  appName: string;
  commit: string;
  request: StoredRequest;
}

export interface BuildRun {
  ok: boolean;
  exitCode: number | null;
  slug: { blobId: string; size: number } | null;
  result: DriverResult | null;
  failure: BuildFailure | null;
}

export type LogSink = (stream: BuildLogLine['stream'], lines: string[]) => Promise<void> | void;

async function buildImage(d: RunBuildDeps, log: LogSink): Promise<string> {
  if (!d.fallbackImage) return d.image;
  try {
    await d.agent.inspectImage(d.image);
    return d.image;
  } catch {
    await log('system', [`-----> The build image ${d.image} is not on this host: building on ${d.fallbackImage} (no compilers for native addons)`]);
    return d.fallbackImage;
  }
}

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`;
}

export async function runBuild(d: RunBuildDeps, job: BuildJob, log: LogSink, signal: AbortSignal): Promise<BuildRun> {
  let pack: ClonedBuildpack | null = null;
  const url = job.request.buildpackUrl;
  if (url && isRemoteBuildpack(url)) {
    await log('system', [`-----> Fetching buildpack ${displayUrl(url)}`]);
    try {
      pack = await cloneBuildpack(url, { signal });
    } catch (err) {
      if (signal.aborted) return cancelled(null);
      return failed({ code: 'buildpack_unavailable', message: (err as Error).message });
    }
  }
  try {
    return await inContainer(d, job, log, signal, pack);
  } finally {
    await pack?.remove();
  }
}

async function inContainer(d: RunBuildDeps, job: BuildJob, log: LogSink, signal: AbortSignal, pack: ClonedBuildpack | null): Promise<BuildRun> {
  const cacheDir = buildCacheDir(d.home, job.appId);
  await prepareBuildCache(cacheDir, d.appUid);
  // A build re-run after its worker was lost: its old container goes first.
  for (const c of await d.agent.listContainers({ all: true, labels: [`${BUILD_LABEL}=${job.id}`] })) await d.agent.removeContainer(c.Id, true);

  const env: Record<string, string> = {
    STACK: d.stack,
    SOURCE_VERSION: job.commit,
    npm_config_registry: d.host.npmRegistry,
    ...(d.host.caBundle ? { NODE_EXTRA_CA_CERTS: CONTAINER_CA_PATH, npm_config_cafile: CONTAINER_CA_PATH } : {}),
    ...(pack ? { BUILDPACK_URL: BUILDPACK_MOUNT } : job.request.buildpackUrl ? { BUILDPACK_URL: job.request.buildpackUrl } : {}),
    ...d.extraEnv,
  };
  const binds = [`${d.buildpacksDir}:/slipway/buildpacks:ro`, `${cacheDir}:/tmp/cache:rw`];
  if (d.runtimesDir) {
    // Shared by every app's builds: its owner and mode are put back each time (a build could
    // have changed them); its files are only trusted after an integrity check in the build.
    await mkdir(d.runtimesDir, { recursive: true });
    await chown(d.runtimesDir, d.appUid, d.appUid).catch(() => undefined);
    await chmod(d.runtimesDir, 0o755).catch(() => undefined);
    binds.push(`${d.runtimesDir}:${RUNTIMES_MOUNT}:rw`);
  }
  const image = await buildImage(d, log);
  if (d.host.caBundle) binds.push(`${d.host.caBundle}:${CONTAINER_CA_PATH}:ro`);
  if (pack) binds.push(`${pack.dir}:${BUILDPACK_MOUNT}:ro`);

  const id = await d.agent.createContainer({
    name: `slipway-build-${job.id}`,
    Image: image,
    // The whole build runs as app: a non-root process keeps no capability across exec (runc
    // gives none to ambient), and no_new_privileges holds it there (issue 13, M1).
    User: `${d.appUid}:${d.appUid}`,
    Cmd: d.driver,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    WorkingDir: '/tmp/build',
    // No isolation label: a build is alone in its network group (reaches the internet, no container).
    Labels: { [BUILD_LABEL]: job.id, [APP_ID_LABEL]: job.appId, 'slipway.app': job.appName, 'slipway.type': 'build' },
    HostConfig: { Memory: d.memoryBytes, ...(d.pidsLimit > 0 ? { PidsLimit: d.pidsLimit } : {}), NetworkMode: 'bridge', Binds: binds, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } },
  });
  try {
    await d.agent.putArchive(id, '/tmp', Readable.from([skeletonTar(job.request.config, d.appUid)]));
    const src = 'path' in job.request.sourceTar ? createReadStream(job.request.sourceTar.path) : await d.blobs.get(job.request.sourceTar.blobId);
    const reowned = reownTar(d.appUid);
    src.on('error', (err: Error) => reowned.destroy(err));
    await d.agent.putArchive(id, '/tmp/build', src.pipe(reowned));
    if (signal.aborted) return cancelled(null);

    await d.agent.startContainer(id);
    const follow = new AbortController();
    const following = (async () => {
      const splitters = {
        stdout: new LineSplitter((l) => void pending.push(Promise.resolve(log('stdout', l)))),
        stderr: new LineSplitter((l) => void pending.push(Promise.resolve(log('stderr', l)))),
      };
      const pending: Promise<void>[] = [];
      try {
        for await (const c of d.agent.logs(id, { follow: true, signal: follow.signal })) splitters[c.stream].push(c.data);
      } catch (err) {
        if (!follow.signal.aborted) throw err;
      } finally {
        splitters.stdout.end();
        splitters.stderr.end();
        await Promise.all(pending);
      }
    })();

    let reason: 'timeout' | 'cancelled' | null = null;
    const kill = (why: 'timeout' | 'cancelled') => {
      reason ??= why;
      void d.agent.killContainer(id, 'SIGKILL').catch(() => undefined);
    };
    const timer = setTimeout(() => kill('timeout'), d.timeoutMs);
    const onAbort = () => kill('cancelled');
    signal.addEventListener('abort', onAbort);
    if (signal.aborted) onAbort();
    let exitCode: number;
    try {
      exitCode = await d.agent.waitContainer(id);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
    // The log stream ends with the container; give it a moment, then stop following.
    await Promise.race([following.catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    follow.abort();
    await following.catch(() => undefined);

    if (reason === 'cancelled') return cancelled(exitCode);
    if (reason === 'timeout') return failed({ code: 'timeout', message: `the build took longer than ${d.timeoutMs >= 60_000 ? `${Math.round(d.timeoutMs / 60_000)} minutes` : `${Math.round(d.timeoutMs / 1000)} s`} and was stopped`, exitCode });
    if (exitCode !== 0) {
      const state = await d.agent.inspectContainer(id).then((i) => i.State).catch(() => null);
      if (state?.OOMKilled || exitCode === 137) {
        return failed({ code: 'out_of_memory', message: `the build ran out of memory (limit ${formatBytes(d.memoryBytes)}) and was killed`, exitCode });
      }
      return failed({ code: 'build_failed', message: `the build failed (exit code ${exitCode})`, exitCode });
    }
    // The driver makes /tmp/out only once it has a slug to put there.
    const archive = await d.agent.getArchive(id, '/tmp/out').catch(() => null);
    const outs = archive ? await readOutputs(archive, d.blobs) : { slug: null, result: null, resultError: undefined, slugError: undefined };
    if (outs.slugError) return failed({ code: 'slug_too_large', message: outs.slugError, exitCode });
    if (!outs.slug) return failed({ code: 'no_slug', message: 'the build ended without a slug (/tmp/out/slug.tgz)', exitCode });
    if (outs.resultError) return failed({ code: 'build_failed', message: outs.resultError, exitCode });
    return { ok: true, exitCode, slug: { blobId: outs.slug.id, size: outs.slug.size }, result: outs.result, failure: null };
  } finally {
    await d.agent.removeContainer(id, true).catch(() => undefined);
    // Nothing of the build runs any more: clear what the host must not keep (setuid bits).
    await prepareBuildCache(cacheDir, d.appUid);
  }
}

function cancelled(exitCode: number | null): BuildRun {
  return { ok: false, exitCode, slug: null, result: null, failure: { code: 'cancelled', message: 'the build was cancelled', ...(exitCode === null ? {} : { exitCode }) } };
}

function failed(f: BuildFailure): BuildRun {
  return { ok: false, exitCode: f.exitCode ?? null, slug: null, result: null, failure: f };
}
