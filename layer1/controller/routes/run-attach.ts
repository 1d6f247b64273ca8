// GET /v1/apps/:app/run/attach (a WebSocket): a one-off process of the app's current release,
// interactive, with a TTY (`heroku run bash`). The request goes through the same middleware as
// every route (http/upgrade.ts), so 401/404/403/422/409 are plain HTTP answers before any
// upgrade. Then the controller makes a one-off container (run/one-off.ts) whose process 1 only
// waits (`sleep`, bounded by the timeout, so even a lost controller cannot leave it behind),
// starts the command in it as a TTY exec through the agent, sized as asked, and only then answers
// 101; run/tty-session.ts relays the terminal until the command exits or the client leaves, and
// the container goes either way.
import { WebSocketServer } from 'ws';
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { TtyExec } from '../../../layer0/agent/index.ts';
import { DEFAULT_MEMORY, processCommand } from '../deploy/index.ts';
import { appRoute, type AnyRoute, type Ctx } from '../http/route.ts';
import { isUpgrade, takeUpgrade } from '../http/upgrade.ts';
import { brief, createOneOff, runnableRelease, type OneOff } from '../run/one-off.ts';
import { RunCommand, RunEnv, RunMemory } from '../run/schemas.ts';
import { relayTty } from '../run/tty-session.ts';
import type { App } from '../types.ts';
import { oneOffSlot } from '../limits.ts';
import { AppParams } from './deployments.ts';
import type { DeployDeps, RouteDeps } from './deps.ts';

const DEFAULT_TIMEOUT_SEC = 3600;
/** A terminal the client did not size (a pty starts 0×0, which confuses line editors). */
const DEFAULT_SIZE = { cols: 80, rows: 24 };
/** Process 1 outlives the timeout by this much, then ends by itself (AutoRemove removes it). */
const KEEPALIVE_GRACE_SEC = 60;
/** Client frames: keystrokes and resizes, never large. */
const MAX_FRAME = 1 << 20;

const whole = (what: string, min: number, max: number) =>
  z.string().regex(/^\d{1,5}$/, `${what}: a whole number`).transform(Number).pipe(z.number().int().min(min).max(max));

const EnvPairs = z
  .union([z.string(), z.array(z.string()).max(1000)])
  .transform((v, ctx) => {
    const env: Record<string, string> = {};
    for (const pair of [v].flat()) {
      const i = pair.indexOf('=');
      if (i < 1) {
        ctx.issues.push({ code: 'custom', message: `expected KEY=value, got ${JSON.stringify(pair.slice(0, 40))}`, input: pair });
        return z.NEVER;
      }
      env[pair.slice(0, i)] = pair.slice(i + 1);
    }
    return env;
  })
  .pipe(RunEnv);

export const RunAttachQuery = z.strictObject({
  command: RunCommand.describe('a shell command line, run with a TTY as the app\'s processes run theirs (a slug\'s launcher, else `/bin/sh -c COMMAND`), e.g. `bash`'),
  env: EnvPairs.optional().describe("`KEY=value`, repeatable: more environment for this run, over the release's config"),
  cols: whole('cols', 1, 1000).optional().describe(`the terminal width at start (default ${DEFAULT_SIZE.cols})`),
  rows: whole('rows', 1, 1000).optional().describe(`the terminal height at start (default ${DEFAULT_SIZE.rows})`),
  timeoutSec: whole('timeoutSec', 1, 3600).optional().describe(`killed (exit 137) after this many seconds (default ${DEFAULT_TIMEOUT_SEC})`),
  memory: RunMemory.optional().describe(`memory limit (default ${DEFAULT_MEMORY})`),
});

/** A WebSocket opening handshake (RFC 6455 §4.2.1) that `ws` will accept, before any work is done. */
function isWebSocketHandshake(ctx: Ctx): boolean {
  const h = ctx.req.headers;
  return isUpgrade(ctx) && (h.upgrade ?? '').toLowerCase() === 'websocket' && /^[+/0-9A-Za-z]{22}==$/.test(h['sec-websocket-key'] ?? '') && h['sec-websocket-version'] === '13';
}

export function runAttachRoutes({ log, leases, limits, store }: RouteDeps, d: DeployDeps): AnyRoute[] {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME, clientTracking: false, perMessageDeflate: false });

  async function attach(app: App, q: z.output<typeof RunAttachQuery>, ctx: Ctx): Promise<void> {
    if (!isWebSocketHandshake(ctx)) {
      throw new SlipwayError('invalid_params', 'this route is a WebSocket: send GET with Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key');
    }
    const release = await runnableRelease(d, app);
    const timeoutSec = q.timeoutSec ?? DEFAULT_TIMEOUT_SEC;
    // The client may leave while the image is fetched or the container starts: stop there.
    const socket = ctx.req.socket;
    const left = new AbortController();
    const onEarlyClose = () => left.abort();
    socket.once('close', onEarlyClose);
    let oneOff: OneOff | null = null;
    let exec: TtyExec;
    // Counted with the app's other one-offs until its container is removed.
    const lease = await leases.acquire([oneOffSlot(limits, store.keys.prefix, app.id)], { maxMs: (timeoutSec + KEEPALIVE_GRACE_SEC + 120) * 1000 });
    try {
      oneOff = await createOneOff(d, log, app, release, {
        cmd: ['sleep', String(timeoutSec + KEEPALIVE_GRACE_SEC)], env: q.env, memory: q.memory, signal: left.signal,
      });
      const remove = oneOff.remove;
      oneOff.remove = () => {
        lease.release();
        return remove();
      };
      await oneOff.agent.startContainer(oneOff.id);
      exec = await oneOff.agent.execTty(oneOff.id, processCommand(release, q.command), { cols: q.cols ?? DEFAULT_SIZE.cols, rows: q.rows ?? DEFAULT_SIZE.rows });
      if (left.signal.aborted) {
        exec.stream.destroy();
        throw new SlipwayError('unavailable', 'the client left before the process started');
      }
    } catch (err) {
      socket.off('close', onEarlyClose);
      lease.release();
      if (oneOff) await oneOff.agent.killContainer(oneOff.id).catch(() => undefined).then(oneOff.remove);
      if (err instanceof SlipwayError) throw err;
      throw new SlipwayError('unavailable', `host ${oneOff?.host.id ?? '?'}: starting the process failed: ${brief(err)}`);
    }
    socket.off('close', onEarlyClose);
    const one = oneOff;
    log.info({ app: app.name, release: `v${one.release.version}`, dyno: one.dyno, host: one.host.id, container: one.id }, 'interactive one-off process started');

    const up = takeUpgrade(ctx)!;
    let relayed = false;
    // `ws` drops a socket that closed in the meantime without calling back: the container goes too.
    up.socket.once('close', () => {
      if (relayed) return;
      exec.stream.destroy();
      void one.agent.killContainer(one.id).catch(() => undefined).then(one.remove);
    });
    wss.handleUpgrade(up.req, up.socket, up.head, (ws) => {
      relayed = true;
      void relayTty({ ws, exec, oneOff: one, timeoutSec, app: app.name, log });
    });
  }

  const route = appRoute({
    method: 'get', path: '/apps/:app/run/attach', tag: 'processes',
    summary: 'Run a one-off process of the current release interactively, with a TTY, over a WebSocket (GET with Upgrade: websocket; answers 101 once the process runs). '
      + 'Binary frames carry the terminal both ways (the client\'s keystrokes in, the output out); the client may send a RunTtyControl text frame ({"resize":{"cols","rows"}}); '
      + 'the server ends with one RunTtyEnd text frame ({"exitCode"} or {"error"}) and closes. A client that leaves gets the process killed and its container removed. Without an upgrade: 422.',
    role: 'deploy', params: AppParams, query: RunAttachQuery, response: null, audit: true, errors: ['conflict', 'unavailable', 'too_many_requests'],
    handler: async ({ app, query, ctx }) => {
      await attach(app, query, ctx);
      ctx.state.status = 101;
    },
  });
  // The route table's statuses are the 2xx of plain answers; this one switches protocols.
  return [{ ...route, status: 101 } as unknown as AnyRoute];
}
