// A one-off process of a release run to its end, its output handed over as it comes: POST /run
// (routes/run.ts, the output as NDJSON) and the release phase of a push (`release:` in the
// Procfile, the output as lines) both run it. The container is one-off.ts's (the release's image,
// config, processCommand); it is killed (137) on timeout or abort, and removed at the end.
import { StringDecoder } from 'node:string_decoder';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { Logger } from '../../../layer0/common/logger.ts';
import { LineSplitter } from '../../builder/index.ts';
import { processCommand, type Release } from '../deploy/index.ts';
import type { DeployDeps } from '../routes/deps.ts';
import type { App } from '../types.ts';
import { brief, createOneOff, within, type OneOff } from './one-off.ts';

/** After the output ended, how long to wait for the agent's `die` event (the exit code). */
const EXIT_WAIT_MS = 5000;

export type Stream = 'stdout' | 'stderr';

export interface RunToEndOptions {
  /** The output as it comes, decoded (UTF-8 kept whole across chunks); awaited, so a slow reader slows the follow. */
  onData?(text: string, stream: Stream): void | Promise<void>;
  /** Each line of output as it comes (stdout and stderr interleaved as they arrive). */
  onLine?(line: string, stream: Stream): void;
  env?: Record<string, string>;
  memory?: string;
  /** Killed (137) after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Aborted: the process is killed (before its start: not started) and removed. */
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number;
  /** Why the platform ended it: `timeout` or `aborted`. */
  killed?: 'timeout' | 'aborted';
  dyno: string;
}

export interface StartedRun {
  /** The container, started. */
  one: OneOff;
  /**
   * Its end, once its output was handed over and the container removed. Rejects (SlipwayError
   * `unavailable`) when following its output failed or its exit code could not be read.
   */
  done: Promise<RunResult>;
}

/** Makes and starts the process; resolves once it runs (errors before that reject, nothing left behind). */
export async function startToEnd(d: DeployDeps, log: Logger, app: Pick<App, 'id' | 'name'>, release: Release & { image: string }, command: string, o: RunToEndOptions): Promise<StartedRun> {
  const one = await createOneOff(d, log, app, release, { cmd: processCommand(release, command), env: o.env, memory: o.memory, signal: o.signal });
  const { id, agent, dyno } = one;
  const stop = new AbortController();
  const since = Math.floor(Date.now() / 1000) - 1;
  // Follow its output and its `die` event before it starts (the events replay from `since`).
  const exitCode = (async () => {
    for await (const e of agent.events({ since, filters: { type: ['container'], container: [id], event: ['die'] }, signal: stop.signal })) {
      if (e.Actor.ID === id && e.Action === 'die') return Number(e.Actor.Attributes.exitCode ?? -1);
    }
    return null;
  })();
  exitCode.catch(() => undefined);
  const logs = agent.logs(id, { follow: true, signal: stop.signal })[Symbol.asyncIterator]();
  const first = logs.next();
  first.catch(() => undefined);
  try {
    // A round trip on another connection, so the log request is in before the start.
    await agent.inspectContainer(id);
    if (o.signal?.aborted) throw new SlipwayError('unavailable', 'cancelled before the process started');
    await agent.startContainer(id);
  } catch (err) {
    stop.abort();
    await one.remove();
    if (err instanceof SlipwayError) throw err;
    throw new SlipwayError('unavailable', `host ${one.host.id}: starting the process failed: ${brief(err)}`);
  }

  let killed: RunResult['killed'];
  const kill = (why: 'timeout' | 'aborted') => {
    if (killed) return;
    killed = why;
    void agent.killContainer(id).catch(() => undefined);
  };
  const onAbort = () => kill('aborted');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => kill('timeout'), o.timeoutMs ?? 600_000);

  const done = (async (): Promise<RunResult> => {
    try {
      const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
      const lines = o.onLine && { stdout: new LineSplitter((ls) => ls.forEach((l) => o.onLine!(l, 'stdout'))), stderr: new LineSplitter((ls) => ls.forEach((l) => o.onLine!(l, 'stderr'))) };
      let failure: string | null = null;
      try {
        for (let next = await first; !next.done; next = await logs.next()) {
          const { stream, data } = next.value;
          lines?.[stream].push(data);
          if (o.onData) {
            const text = decoders[stream].write(data);
            if (text) await o.onData(text, stream);
          }
        }
      } catch (err) {
        if (!killed) failure = `following its output failed: ${brief(err)}`;
      }
      for (const s of ['stdout', 'stderr'] as const) {
        lines?.[s].end();
        const rest = decoders[s].end();
        if (rest && o.onData) await o.onData(rest, s);
      }
      if (killed) return { exitCode: 137, killed, dyno };
      if (failure) {
        await agent.killContainer(id).catch(() => undefined);
        throw new SlipwayError('unavailable', failure);
      }
      let code = await within(exitCode, EXIT_WAIT_MS).catch(() => null);
      // No event (the agent restarted?): ask the container itself, if it is still there.
      if (code === null) code = await agent.inspectContainer(id).then((i) => (i.State.Running ? null : i.State.ExitCode), () => null);
      if (killed) return { exitCode: 137, killed, dyno };
      if (code === null) throw new SlipwayError('unavailable', `the exit code of ${dyno} could not be read`);
      return { exitCode: code, dyno };
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      stop.abort();
      await one.remove();
    }
  })();
  done.catch(() => undefined);
  return { one, done };
}

/** Runs `command` in a new container of `release` and resolves with its exit code once it ended (removed). */
export async function runToEnd(d: DeployDeps, log: Logger, app: Pick<App, 'id' | 'name'>, release: Release & { image: string }, command: string, o: RunToEndOptions): Promise<RunResult> {
  return (await startToEnd(d, log, app, release, command, o)).done;
}
