// POST /v1/apps/:app/run: a one-off process of the app's current release (`heroku run`). The
// controller picks the least loaded live host (discovery `slipway-hosts`), makes sure its agent has
// the release's image (importing it from the release's imageUrl), creates a container of it
// (`/bin/sh -c COMMAND`, the release's config, AutoRemove, labelled `slipway.type=run`, outside any
// formation so the scheduler leaves it alone), starts it and streams its output as it comes, as
// newline-delimited JSON: `{"stream":"stdout"|"stderr","data":"…"}` lines, then `{"exitCode":N}`.
// A client that leaves, or a run longer than its timeout, gets the container killed (137) and
// removed. Not yet: an interactive TTY over a WebSocket (the runtime cannot forward stdin).
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { connectAgent, type AgentClient } from '../../../layer0/agent/index.ts';
import { HOSTS_SERVICE, type Instance } from '../../../layer0/discovery/index.ts';
import { CONFIG_NAME_RE, CONFIG_VALUE_MAX_BYTES, DEFAULT_MEMORY, LABEL_APP, LABEL_APP_ID, LABEL_RELEASE, LABEL_TYPE, parseMemory, type Release } from '../deploy/index.ts';
import { appRoute, type AnyRoute, type Ctx } from '../http/route.ts';
import { components, type App } from '../types.ts';
import { AppParams, recordKeys } from './deployments.ts';
import type { DeployDeps, RouteDeps } from './deps.ts';

export const RUN_TYPE = 'run';
export const COMMAND_MAX_BYTES = 4096;
const DEFAULT_TIMEOUT_SEC = 600;
/** How long a host's agent may take to answer `info` when choosing where to run. */
const PICK_TIMEOUT_MS = 2000;
/** After the output ended, how long to wait for the agent's `die` event (the exit code). */
const EXIT_WAIT_MS = 5000;
const RESERVED_RE = /^(PORT|DYNO|SLIPWAY_.*)$/;

const isMemory = (v: string) => {
  try {
    parseMemory(v);
    return true;
  } catch {
    return false;
  }
};

export const RunRequest = z
  .strictObject({
    command: z.string().min(1, 'an empty command').refine((s) => Buffer.byteLength(s) <= COMMAND_MAX_BYTES, 'the command is over 4 KiB').refine((s) => !s.includes('\0'), 'the command contains a NUL byte')
      .describe('a shell command line, run as `/bin/sh -c COMMAND`'),
    env: z
      .record(
        z.string().regex(CONFIG_NAME_RE, 'names are letters, digits and "_", not starting with a digit').refine((n) => !RESERVED_RE.test(n), 'reserved: PORT, DYNO and SLIPWAY_* are set by the platform'),
        z.string().refine((v) => Buffer.byteLength(v) <= CONFIG_VALUE_MAX_BYTES, 'the value is over 32 KiB').refine((v) => !v.includes('\0'), 'the value contains a NUL byte'),
        recordKeys,
      )
      .refine((e) => Object.keys(e).length <= 1000, 'at most 1000 variables')
      .optional()
      .describe("more environment for this run, over the release's config"),
    timeoutSec: z.number().int().min(1).max(3600).optional().describe(`killed (exit 137) after this many seconds (default ${DEFAULT_TIMEOUT_SEC})`),
    memory: z.string().max(20).refine(isMemory, 'a size like 256M or 1G, between 16M and 64G').optional().describe(`memory limit (default ${DEFAULT_MEMORY})`),
  })
  .describe('A one-off process of the current release');
components.add(RunRequest, { id: 'RunRequest' });

export const RunLine = z
  .union([
    z.object({ stream: z.enum(['stdout', 'stderr']), data: z.string() }),
    z.object({
      exitCode: z.number().int(),
      reason: z.enum(['timeout', 'disconnected']).optional().describe('why the platform killed it (then exitCode is 137)'),
      message: z.string().optional(),
    }),
    z.object({ error: z.object({ code: z.string(), message: z.string() }).describe('the run failed on the platform side after it started (no exit code)') }),
  ])
  .describe('The body is `application/x-ndjson`, flushed as the process writes: one of these objects per line, `stream` lines in order, then one last `exitCode` (or `error`) line.');
components.add(RunLine, { id: 'RunLine' });

type Line = z.infer<typeof RunLine>;

function agentOf(host: Instance, token: string | undefined): AgentClient {
  if (host.addr.startsWith('unix://')) return connectAgent({ socketPath: host.addr.slice('unix://'.length) });
  const u = new URL(host.addr);
  return connectAgent({ host: u.hostname, port: Number(u.port || 2375), token });
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms).unref()))]).finally(() => clearTimeout(timer));
}

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;
const brief = (err: unknown) => ((err as Error)?.message ?? String(err)).slice(0, 300);

export function runRoutes({ log }: RouteDeps, d: DeployDeps): AnyRoute[] {
  /** The live host whose agent answers and runs the fewest containers (ties: discovery's order). */
  async function pickHost(): Promise<{ host: Instance; agent: AgentClient }> {
    if (!d.discovery) throw new SlipwayError('unavailable', 'this controller cannot reach the hosts (no discovery)');
    const hosts = await d.discovery.instances(HOSTS_SERVICE);
    if (hosts.length === 0) throw new SlipwayError('unavailable', 'no live host to run on');
    const scored = await Promise.all(hosts.map(async (host) => {
      const agent = agentOf(host, d.agentToken);
      try {
        const info = await within(agent.info(), PICK_TIMEOUT_MS);
        return { host, agent, load: info.ContainersRunning };
      } catch {
        return null;
      }
    }));
    const live = scored.filter((s) => s !== null);
    if (live.length === 0) throw new SlipwayError('unavailable', `none of the ${hosts.length} hosts' agents answered`);
    return live.reduce((a, b) => (b.load < a.load ? b : a));
  }

  /** The release's image on the host: there already, or imported from its imageUrl (as the scheduler does). */
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
      await agent.importImageFromUrl(release.imageUrl, { repo, tag });
    } catch (err) {
      throw new SlipwayError('unavailable', `host ${host.id}: importing ${image} from its imageUrl failed: ${brief(err)}`);
    }
  }

  async function run(app: App, body: z.output<typeof RunRequest>, ctx: Ctx): Promise<PassThrough> {
    const release = await d.deploy.currentRelease(app);
    if (!release || !release.image) throw new SlipwayError('conflict', `${app.name} has no deployed release to run: create one first (slipway releases:create)`);
    const rel = release as Release & { image: string };
    // The client may leave while the image is fetched: stop there.
    const left = new AbortController();
    const onEarlyClose = () => left.abort();
    ctx.res.once('close', onEarlyClose);
    const gone = () => {
      if (left.signal.aborted) throw new SlipwayError('unavailable', 'the client left before the process started');
    };

    const { host, agent } = await pickHost();
    gone();
    await ensureImage(agent, host, rel);
    gone();
    const n = await d.deploy.store.redis.incr(d.deploy.store.key(app.id, 'run-seq'));
    const dyno = `${RUN_TYPE}.${n}`;
    const env = { ...rel.config, ...body.env, SLIPWAY_APP: app.name, SLIPWAY_RELEASE: `v${rel.version}`, DYNO: dyno };
    const since = Math.floor(Date.now() / 1000) - 1;
    let id: string;
    try {
      id = await agent.createContainer({
        name: `${app.id}.${RUN_TYPE}-${n}.${randomBytes(4).toString('hex')}`,
        Image: rel.image,
        Cmd: ['/bin/sh', '-c', body.command],
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        Labels: { [LABEL_APP]: app.name, [LABEL_APP_ID]: app.id, [LABEL_RELEASE]: `v${rel.version}`, [LABEL_TYPE]: RUN_TYPE, 'slipway.dyno': dyno },
        Tty: false,
        OpenStdin: false,
        StopTimeout: 1,
        HostConfig: {
          Memory: parseMemory(body.memory ?? DEFAULT_MEMORY),
          NetworkMode: 'bridge',
          AutoRemove: true,
          RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
        },
      });
    } catch (err) {
      throw new SlipwayError('unavailable', `host ${host.id}: creating the container failed: ${brief(err)}`);
    }
    const remove = () => agent.removeContainer(id, true).catch((err: unknown) => log.warn({ err, app: app.name, container: id }, 'removing a one-off process failed'));

    // Follow its output and its `die` event before it starts (the events replay from `since`).
    const stop = new AbortController();
    const logs = agent.logs(id, { follow: true, signal: stop.signal })[Symbol.asyncIterator]();
    const firstChunk = logs.next();
    firstChunk.catch(() => undefined);
    const exitCode = (async () => {
      for await (const e of agent.events({ since, filters: { type: ['container'], container: [id], event: ['die'] }, signal: stop.signal })) {
        if (e.Actor.ID === id && e.Action === 'die') return Number(e.Actor.Attributes.exitCode ?? -1);
      }
      return null;
    })();
    exitCode.catch(() => undefined);
    try {
      // A round trip on another connection, so the log request is in before the start.
      await agent.inspectContainer(id);
      gone();
      await agent.startContainer(id);
    } catch (err) {
      stop.abort();
      await remove();
      if (err instanceof SlipwayError) throw err;
      throw new SlipwayError('unavailable', `host ${host.id}: starting the process failed: ${brief(err)}`);
    }
    ctx.res.off('close', onEarlyClose);
    log.info({ app: app.name, release: `v${rel.version}`, dyno, host: host.id, container: id }, 'one-off process started');

    const out = new PassThrough();
    let finished = false;
    let killed: { reason: 'timeout' | 'disconnected'; message: string } | null = null;
    const write = async (line: Line) => {
      if (out.destroyed || out.writableEnded) return;
      if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, 'drain', { signal: stop.signal }).catch(() => undefined);
    };
    const kill = (reason: 'timeout' | 'disconnected', message: string) => {
      if (finished || killed) return;
      killed = { reason, message };
      log.info({ app: app.name, dyno, container: id, reason }, 'killing a one-off process');
      stop.abort();
      void agent.killContainer(id).catch(() => undefined).then(remove);
    };
    const timeoutSec = body.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
    const timer = setTimeout(() => kill('timeout', `killed: it ran longer than its ${timeoutSec} s timeout`), timeoutSec * 1000);
    ctx.res.once('close', () => kill('disconnected', 'killed: the client disconnected'));

    void (async () => {
      const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
      let failure: string | null = null;
      try {
        for (let next = await firstChunk; !next.done; next = await logs.next()) {
          const text = decoders[next.value.stream].write(next.value.data);
          if (text) await write({ stream: next.value.stream, data: text });
        }
      } catch (err) {
        if (!stop.signal.aborted) failure = `following its output failed: ${brief(err)}`;
      }
      for (const s of ['stdout', 'stderr'] as const) {
        const rest = decoders[s].end();
        if (rest && !killed) await write({ stream: s, data: rest });
      }
      let code: number | null = null;
      if (!killed && !failure) {
        code = await within(exitCode, EXIT_WAIT_MS).catch(() => null);
        if (code === null) {
          // No event (the agent restarted?): ask the container itself, if it is still there.
          code = await agent.inspectContainer(id).then((i) => (i.State.Running ? null : i.State.ExitCode), () => null);
          if (code === null) failure = 'its exit code could not be read';
        }
      }
      clearTimeout(timer);
      finished = true;
      const k = killed as { reason: 'timeout' | 'disconnected'; message: string } | null;
      if (k) await write({ exitCode: 137, reason: k.reason, message: k.message });
      else if (failure !== null) {
        await write({ error: { code: 'unavailable', message: failure } });
        await agent.killContainer(id).catch(() => undefined);
      } else await write({ exitCode: code! });
      stop.abort();
      if (!k) await remove();
      log.info({ app: app.name, dyno, container: id, exitCode: k ? 137 : code, reason: k?.reason ?? failure }, 'one-off process ended');
      out.end();
    })();

    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.type = 'application/x-ndjson';
    ctx.set('Cache-Control', 'no-cache, no-transform');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.status = 200;
    ctx.flushHeaders();
    return out;
  }

  return [
    appRoute({
      method: 'post', path: '/apps/:app/run', tag: 'processes',
      summary: 'Run a one-off process of the current release; its output streams back as application/x-ndjson lines, then its exit code (interactive TTY: not yet)',
      role: 'deploy', params: AppParams, body: RunRequest, response: RunLine, contentType: 'application/x-ndjson', errors: ['conflict', 'unavailable'],
      handler: async ({ app, body, ctx }) => (await run(app, body, ctx)) as never,
    }),
  ];
}
