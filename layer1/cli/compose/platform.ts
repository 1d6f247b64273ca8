// Composition root of `slipway up` / `slipway down`: installs missing OS packages, makes sure
// the stack is cached, starts the platform's servers in this process (Redis unless
// SLIPWAY_REDIS_URL is set, the host agent in cluster mode, the scheduler, the blobstore, the
// build worker, the controller with its deploy core and the git receiver running the push
// pipeline, then the router), and tears everything down on Ctrl-C, SIGTERM or `slipway down`.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdirPrivate } from '../../../layer0/common/private-state.ts';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { createLogger } from '../../../layer0/common/logger.ts';
import { agentSocketPath, slipwayPaths, type SlipwayPaths } from '../../../layer0/common/paths.ts';
import { agentFetchAuthFromEnv } from './agent.ts';
import { startAgent } from '../../../layer0/agent/daemon.ts';
import { connectAgent } from '../../../layer0/agent/index.ts';
import { startShipper } from '../../logs/shipper.ts';
import { hostname } from 'node:os';
import { createDiscovery, redact } from '../../../layer0/discovery/client.ts';
import { startScheduler } from '../../../layer0/scheduler/scheduler.ts';
import { createSchedulerClient } from '../../../layer0/scheduler/index.ts';
import { createDeploy, processLimitsFromEnv } from '../../controller/deploy/index.ts';
import { platformRedis, stopOrphanRedis } from './redis.ts';
import { startController } from '../../controller/server.ts';
import { routerSettings, startRouter, type RunningRouter } from '../../router/server.ts';
import { cleanupByPrefix } from '../../../layer0/network/index.ts';
import { removeCgroupParent } from '../../../layer0/runtime/index.ts';
import { ensureStack, stackCached } from '../../../deploy/stack.ts';
import { startBlobServer } from '../../blobstore/server.ts';
import { localBlobs, loadOrCreateBlobToken } from '../../blobstore/index.ts';
import { startBuilder } from '../../builder/worker.ts';
import { opsRoutes, startDiskCollector } from '../../controller/ops/index.ts';
import { createPushPipeline } from '../../controller/push/pipeline.ts';
import { parseMemory } from '../../controller/deploy/index.ts';
import { upPreflight } from './doctor/index.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const pidFile = (p: SlipwayPaths) => join(p.run, 'slipway.pid');
const logFile = (p: SlipwayPaths) => join(p.home, 'logs', 'slipway.log');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of the platform of this home, when its pid file names a live `slipway up` (after a crash the pid may be reused). */
function runningPid(p: SlipwayPaths): number | null {
  try {
    const pid = Number(readFileSync(pidFile(p), 'utf8').trim());
    if (!(pid > 0) || !alive(pid)) return null;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmd.some((a) => /(slipway(\.js)?|cli\/main\.ts)$/.test(a)) && cmd.includes('up') ? pid : null;
  } catch {
    return null;
  }
}

function agentCall(socketPath: string, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request({ socketPath, method, path, timeout: 30_000 }, (r) => {
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    });
    req.on('error', rej);
    req.end();
  });
}

const agentServing = (p: SlipwayPaths) => agentCall(agentSocketPath(p), 'GET', '/_ping').then((r) => r.status === 200, () => false);

/** The controller's address (DESIGN.md ports): SLIPWAY_BIND, SLIPWAY_API_PORT (7000). */
function apiAddress(env: NodeJS.ProcessEnv): { host: string; port: number } {
  return { host: env.SLIPWAY_BIND ?? '127.0.0.1', port: Number(env.SLIPWAY_API_PORT ?? 7000) };
}

/** The blobstore's port (DESIGN.md): SLIPWAY_BLOB_PORT (7001). */
const blobPort = (env: NodeJS.ProcessEnv) => Number(env.SLIPWAY_BLOB_PORT ?? 7001);

const ok200 = (url: string) => fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.status === 200, () => false);

/** Ready means the agent answers and the controller's /readyz says 200 (DESIGN.md), which includes the router serving. */
async function ready(p: SlipwayPaths, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!(await agentServing(p))) return false;
  const { host, port } = apiAddress(env);
  if (!(await ok200(`http://${host}:${blobPort(env)}/healthz`))) return false;
  return ok200(`http://${host}:${port}/readyz`);
}

/** Removes every container of this instance and everything the kernel holds for it. */
async function teardown(p: SlipwayPaths): Promise<void> {
  const sock = agentSocketPath(p);
  if (existsSync(sock)) {
    const list = await agentCall(sock, 'GET', '/containers/json?all=1').catch(() => null);
    for (const c of list?.status === 200 ? (JSON.parse(list.body) as { Id: string }[]) : []) {
      await agentCall(sock, 'DELETE', `/containers/${c.Id}?force=1`).catch(() => undefined);
    }
  }
}

async function cleanupKernel(p: SlipwayPaths): Promise<void> {
  await cleanupByPrefix(p.prefix);
  removeCgroupParent(p.prefix);
}

export interface UpFlags {
  detach?: boolean;
}

export async function up(flags: UpFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const paths = slipwayPaths(env);
  const existing = runningPid(paths);
  if (existing) throw new Error(`a platform of ${paths.home} is already running (pid ${existing}); stop it with: slipway down`);
  // OS packages first (quiet when all are there), then the doctor's fast checks: a host that
  // cannot run the platform is told why, before anything starts.
  execFileSync('bash', [join(ROOT, 'deploy/install-deps')], { stdio: 'inherit' });
  const unfit = await upPreflight(env);
  if (unfit) throw new Error(unfit);
  if (flags.detach) return detach(paths, env);

  const log = createLogger('slipway');
  mkdirSync(paths.run, { recursive: true });
  mkdirPrivate(paths.home);
  const stack = await ensureStack(paths, { onLog: (line) => log.info(line) });
  log.info({ stack: stack.tarPath, built: stack.built }, 'stack ready');
  const buildStack = await ensureStack(paths, { image: 'build', onLog: (line) => log.info(line) });
  log.info({ stack: buildStack.tarPath, built: buildStack.built }, 'build stack ready');
  const redis = await platformRedis(paths, log, env);
  const discovery = createDiscovery({ url: redis.url, log: log.child({ component: 'discovery' }) });
  const address = env.SLIPWAY_BIND ?? '127.0.0.1';
  // Slugs live in the blobstore; releases name them by bare URL, which this host's agent reads with
  // the blobstore's read token (sent to the blob origin only). `$SLIPWAY_HOME/agent-fetch-auth`
  // holds it for joined hosts' agents (`host join --fetch-auth-file`).
  const blobToken = await loadOrCreateBlobToken(paths.home);
  const blobServer = await startBlobServer({ dir: join(paths.home, 'blobs'), host: address, port: blobPort(env), token: blobToken, log: log.child({ component: 'blobs' }) });
  const blobs = localBlobs(blobServer.store, { url: blobServer.url, token: blobToken });
  const blobAuth = blobs.agentFetchAuth();
  writeFileSync(join(paths.home, 'agent-fetch-auth'), `${blobAuth.origin} ${blobAuth.bearer}\n`, { mode: 0o600 });
  const agent = await startAgent({
    paths, log: log.child({ component: 'agent' }), importStack: 'await',
    cluster: { discovery, address, agentUrl: `unix://${agentSocketPath(paths)}` },
    fetchAuth: [blobAuth, ...agentFetchAuthFromEnv(env)],
  });
  // The log shipper follows this host's containers into Redis; the router hands it its access records.
  const shipper = await startShipper({ agent: connectAgent({ socketPath: agent.socketPath }), redisUrl: redis.url, host: hostname(), log });
  // The token reaches agents of joined hosts over TCP (SLIPWAY_AGENT_TOKEN, as `slipway agent --tcp` reads it).
  const agentToken = env.SLIPWAY_AGENT_TOKEN;
  const scheduler = startScheduler({ redisUrl: redis.url, discovery, agentToken, log });
  const api = apiAddress(env);
  const routes = routerSettings(env);
  let router: RunningRouter | null = null;
  // The controller's deploy core turns releases into formations through the scheduler's client.
  const schedulerClient = createSchedulerClient({ redisUrl: redis.url, discovery, agentToken });
  const deploy = createDeploy({ redis: redis.url, scheduler: schedulerClient, discovery, log: log.child({ component: 'deploy' }), options: { limits: processLimitsFromEnv(env) } });
  await deploy.start();
  // The build worker: its containers run on this host's agent.
  const builder = await startBuilder({
    redis: redis.url, agent: { socketPath: agentSocketPath(paths) }, blobs, home: paths.home, log: log.child({ component: 'builder' }),
    runtimesDir: join(paths.cache, 'runtimes'),
    ...(env.SLIPWAY_BUILD_MEMORY ? { memoryBytes: parseMemory(env.SLIPWAY_BUILD_MEMORY) } : {}),
  });
  const builds = builder.queue; // the push enqueues on the builder's own queue (closed with it)
  const deployDeps = { deploy, scheduler: schedulerClient, discovery };
  const pipeline = createPushPipeline({
    builds, blobs, deploy: deployDeps, tmpDir: join(paths.home, 'tmp'), log: log.child({ component: 'push' }),
    router: { host: routes.host, httpPort: routes.httpPort, domain: routes.domain },
  });
  const routerNotReady = () => (router?.stats().ready ? null : 'the router is not serving yet');
  const controller = await startController({
    redisUrl: redis.url, port: api.port, host: api.host, log, home: paths.home,
    deploy: deployDeps,
    git: { dir: join(paths.home, 'git'), hookSocket: join(paths.run, 'git-hook.sock'), pipeline },
    onAppDeleted: (a) => builds.store.forgetApp(a.id),
    // GET /v1/status and DELETE /v1/apps/:app/build-cache.
    routes: (rd) => opsRoutes(rd, { home: paths.home, blobs: blobServer.store, discovery, scheduler: schedulerClient, routerNotReady }),
    router: { domain: routes.domain, httpPort: routes.httpPort, notReady: routerNotReady },
  });
  // Slugs no kept release refers to, slug images of releases no longer kept, caches of deleted apps: at start and every 10 min.
  // Joined hosts' agents listen on TCP and want the agents' bearer token (the one `slipway agent` and `slipway scheduler` read by default).
  const disk = startDiskCollector({ store: controller.store, redis: controller.redis, home: paths.home, blobs: blobServer.store, discovery, agentToken, log: log.child({ component: 'disk' }) });
  // After the controller, which publishes every app's route at start: the router begins with all of them.
  router = await startRouter({
    redisUrl: redis.url, discovery, domain: routes.domain, host: routes.host, home: paths.home, log,
    httpPort: routes.httpPort, httpsPort: routes.httpsPort, adminPort: routes.adminPort,
    onAccess: (r) => shipper.access(r),
  });
  writeFileSync(pidFile(paths), `${process.pid}\n`);
  log.info({
    socket: agent.socketPath, redis: redact(redis.url), api: `http://${api.host}:${controller.port}`, blobs: blobServer.url,
    git: `http://${api.host}:${controller.port}/git/<app>.git`,
    apps: `http://<app>.${routes.domain}:${router.http.port}`, https: router.https?.port, routerAdmin: router.admin?.port,
  }, 'slipway is up; stop with Ctrl-C or `slipway down`');
  // The admin token is shown once, and only to a person at a terminal; otherwise its file is named.
  if (controller.adminToken && process.stdout.isTTY) process.stdout.write(`admin token (shown once; also in ${controller.adminTokenPath}): ${controller.adminToken}\n`);
  else process.stdout.write(`admin token: in ${controller.adminTokenPath}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping the platform');
    try {
      disk.close();
      await router.close(2000); // in-flight requests get two seconds
      await controller.close(); // and the git receiver: pushes in flight are refused
      await shipper.close(); // what it read is written first
      await builder.close(); // running builds end as `interrupted`; their containers go, and its queue closes
      await blobServer.close();
      await deploy.close();
      schedulerClient.close();
      await scheduler.close(); // before the teardown, so nothing restarts what it removes
      await teardown(paths);
      await agent.leave();
      await agent.close();
      await discovery.close();
      await redis.stop();
      await cleanupKernel(paths);
    } catch (err) {
      log.error({ err }, 'clean-up failed; `slipway down` finishes it');
    } finally {
      rmSync(pidFile(paths), { force: true });
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

async function detach(paths: SlipwayPaths, env: NodeJS.ProcessEnv): Promise<void> {
  mkdirPrivate(paths.home);
  mkdirSync(dirname(logFile(paths)), { recursive: true, mode: 0o700 });
  const out = openSync(logFile(paths), 'a', 0o600);
  const child = spawn(process.execPath, [join(ROOT, 'bin/slipway.js'), 'up'], { env, detached: true, stdio: ['ignore', out, out] });
  child.unref();
  const limit = stackCached(paths, 'run') && stackCached(paths, 'build') ? 60_000 : 300_000;
  const deadline = Date.now() + limit;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (runningPid(paths) === child.pid && (await ready(paths, env))) {
      const { host, port } = apiAddress(env);
      const r = routerSettings(env);
      process.stdout.write(`slipway is up (pid ${child.pid}) at http://${host}:${port}; apps at http://<app>.${r.domain}:${r.httpPort}; admin token in ${join(paths.home, 'admin-token')}; logs: ${logFile(paths)}\n`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (child.exitCode !== null) {
    const tail = readFileSync(logFile(paths), 'utf8').trimEnd().split('\n').slice(-15).join('\n');
    throw new Error(`the platform stopped while starting (exit ${child.exitCode}); the end of ${logFile(paths)}:\n${tail}`);
  }
  throw new Error(`the platform did not become ready within ${limit / 1000} s; see ${logFile(paths)}`);
}

export async function down(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const paths = slipwayPaths(env);
  const pid = runningPid(paths);
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 55_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  } else if (await agentServing(paths)) {
    await teardown(paths); // an agent of this home still serving without `up` around it
  } else if (existsSync(join(paths.home, 'containers')) && readdirSync(join(paths.home, 'containers')).length > 0) {
    // The platform died (SIGKILL, a crash): its containers outlived it. An agent adopts them
    // just long enough to remove them.
    const agent = await startAgent({ paths, log: createLogger('slipway', 'warn') });
    await teardown(paths);
    await agent.close();
  }
  // Idempotent: whatever a crash left behind goes too.
  await stopOrphanRedis(paths);
  await cleanupKernel(paths);
  rmSync(pidFile(paths), { force: true });
  process.stdout.write('slipway is down\n');
}
