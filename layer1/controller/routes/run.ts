// POST /v1/apps/:app/run: a one-off process of the app's current release (`heroku run`), in a
// container of its own, started and followed (run/run-to-end.ts), its output streamed back as it
// comes as newline-delimited JSON: `{"stream":"stdout"|"stderr","data":"…"}` lines, then
// `{"exitCode":N}`. A client that leaves, or a run longer than its timeout, gets the container
// killed (137) and removed. The interactive form (a TTY over a WebSocket) is run-attach.ts.
import { streamHead } from '../http/stream.ts';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { DEFAULT_MEMORY } from '../deploy/index.ts';
import { appRoute, type AnyRoute, type Ctx } from '../http/route.ts';
import { oneOffSlot } from '../limits.ts';
import { brief, runnableRelease } from '../run/one-off.ts';
import { startToEnd } from '../run/run-to-end.ts';
import { RunCommand, RunEnv, RunMemory } from '../run/schemas.ts';
import { components, type App } from '../types.ts';
import { AppParams } from './deployments.ts';
import type { DeployDeps, RouteDeps } from './deps.ts';
import { runAttachRoutes } from './run-attach.ts';

const DEFAULT_TIMEOUT_SEC = 600;

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
    // A client that leaves (while the image is fetched, or mid-run) gets the process killed.
    const left = new AbortController();
    ctx.res.once('close', () => left.abort());
    const out = new PassThrough();
    const write = async (line: Line) => {
      if (out.destroyed || out.writableEnded) return;
      if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, 'drain', { signal: left.signal }).catch(() => undefined);
    };
    const timeoutSec = body.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
    // One-offs of an app at once are counted (429 beyond SLIPWAY_MAX_ONE_OFFS_PER_APP).
    const lease = await deps.leases.acquire([oneOffSlot(deps.limits, deps.store.keys.prefix, app.id)], { maxMs: (timeoutSec + 120) * 1000 });
    const { one, done } = await startToEnd(d, log, app, release, body.command, {
      env: body.env, memory: body.memory, signal: left.signal, timeoutMs: timeoutSec * 1000,
      onData: (data, stream) => write({ stream, data }),
    }).catch((err: unknown) => {
      lease.release();
      throw err;
    });
    void done.finally(() => lease.release()).catch(() => undefined);
    const { dyno, id: container } = one;
    log.info({ app: app.name, release: `v${one.release.version}`, dyno, host: one.host.id, container }, 'one-off process started');

    void done.then(
      async (r) => {
        const reason = r.killed === 'timeout' ? 'timeout' : r.killed === 'aborted' ? 'disconnected' : undefined;
        if (reason) log.info({ app: app.name, dyno, container, reason }, 'killed a one-off process');
        await write(reason === 'timeout' ? { exitCode: 137, reason, message: `killed: it ran longer than its ${timeoutSec} s timeout` }
          : reason === 'disconnected' ? { exitCode: 137, reason, message: 'killed: the client disconnected' }
          : { exitCode: r.exitCode });
        log.info({ app: app.name, dyno, container, exitCode: r.exitCode, reason }, 'one-off process ended');
      },
      async (err: unknown) => {
        await write({ error: { code: 'unavailable', message: brief(err) } });
        log.info({ app: app.name, dyno, container, reason: brief(err) }, 'one-off process ended');
      },
    ).finally(() => out.end());

    streamHead(ctx, 'application/x-ndjson');
    ctx.status = 200;
    ctx.flushHeaders();
    return out;
  }

  return [
    appRoute({
      method: 'post', path: '/apps/:app/run', tag: 'processes',
      summary: 'Run a one-off process of the current release; its output streams back as application/x-ndjson lines, then its exit code (interactive, with a TTY: GET …/run/attach)',
      role: 'deploy', params: AppParams, body: RunRequest, response: RunLine, contentType: 'application/x-ndjson', errors: ['conflict', 'unavailable', 'too_many_requests'],
      handler: async ({ app, body, ctx }) => (await run(app, body, ctx)) as never,
    }),
    ...runAttachRoutes(deps, d),
  ];
}
