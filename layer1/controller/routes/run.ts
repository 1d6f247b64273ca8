// POST /v1/apps/:app/run: a one-off process of the app's current release (`heroku run`), in a
// container of its own (run/one-off.ts), started and followed, its output streamed back as it
// comes as newline-delimited JSON: `{"stream":"stdout"|"stderr","data":"…"}` lines, then
// `{"exitCode":N}`. A client that leaves, or a run longer than its timeout, gets the container
// killed (137) and removed. The interactive form (a TTY over a WebSocket) is run-attach.ts.
import { streamHead } from '../http/stream.ts';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { DEFAULT_MEMORY } from '../deploy/index.ts';
import { appRoute, type AnyRoute, type Ctx } from '../http/route.ts';
import { brief, createOneOff, runnableRelease, shellCommand, within } from '../run/one-off.ts';
import { RunCommand, RunEnv, RunMemory } from '../run/schemas.ts';
import { components, type App } from '../types.ts';
import { AppParams } from './deployments.ts';
import type { DeployDeps, RouteDeps } from './deps.ts';
import { runAttachRoutes } from './run-attach.ts';

const DEFAULT_TIMEOUT_SEC = 600;
/** After the output ended, how long to wait for the agent's `die` event (the exit code). */
const EXIT_WAIT_MS = 5000;

export const RunRequest = z
  .strictObject({
    command: RunCommand.describe('a shell command line, run as the app\'s processes run theirs (a slug\'s launcher, else `/bin/sh -c COMMAND`)'),
    env: RunEnv.optional().describe("more environment for this run, over the release's config"),
    timeoutSec: z.number().int().min(1).max(3600).optional().describe(`killed (exit 137) after this many seconds (default ${DEFAULT_TIMEOUT_SEC})`),
    memory: RunMemory.optional().describe(`memory limit (default ${DEFAULT_MEMORY})`),
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

export function runRoutes(deps: RouteDeps, d: DeployDeps): AnyRoute[] {
  const { log } = deps;
  async function run(app: App, body: z.output<typeof RunRequest>, ctx: Ctx): Promise<PassThrough> {
    const release = await runnableRelease(d, app);
    // The client may leave while the image is fetched: stop there.
    const left = new AbortController();
    const onEarlyClose = () => left.abort();
    ctx.res.once('close', onEarlyClose);
    const gone = () => {
      if (left.signal.aborted) throw new SlipwayError('unavailable', 'the client left before the process started');
    };

    const { id, dyno, host, agent, remove, release: rel } = await createOneOff(d, log, app, release, {
      cmd: shellCommand(body.command), env: body.env, memory: body.memory, signal: left.signal,
    });
    const since = Math.floor(Date.now() / 1000) - 1;

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

    streamHead(ctx, 'application/x-ndjson');
    ctx.status = 200;
    ctx.flushHeaders();
    return out;
  }

  return [
    appRoute({
      method: 'post', path: '/apps/:app/run', tag: 'processes',
      summary: 'Run a one-off process of the current release; its output streams back as application/x-ndjson lines, then its exit code (interactive, with a TTY: GET …/run/attach)',
      role: 'deploy', params: AppParams, body: RunRequest, response: RunLine, contentType: 'application/x-ndjson', errors: ['conflict', 'unavailable'],
      handler: async ({ app, body, ctx }) => (await run(app, body, ctx)) as never,
    }),
    ...runAttachRoutes(deps, d),
  ];
}
