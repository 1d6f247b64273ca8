// A one-off process of a release run to its end with its output as lines: the release phase of a
// push (`release:` in the Procfile) runs this before the release's rollout. Same container as
// `slipway run` (one-off.ts: the release's image, config, launcher), no client stream.
import { StringDecoder } from 'node:string_decoder';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { Logger } from '../../../layer0/common/logger.ts';
import type { Release } from '../deploy/index.ts';
import type { DeployDeps } from '../routes/deps.ts';
import type { App } from '../types.ts';
import { brief, createOneOff, shellCommand, within } from './one-off.ts';

export interface RunToEndOptions {
  /** Each line of output as it comes (stdout and stderr interleaved as they arrive). */
  onLine(line: string, stream: 'stdout' | 'stderr'): void;
  env?: Record<string, string>;
  memory?: string;
  /** Killed (137) after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Aborted: the process is killed and removed. */
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number;
  /** Why the platform ended it: `timeout` or `aborted`. */
  killed?: 'timeout' | 'aborted';
  dyno: string;
}

/** Runs `command` in a new container of `release` and resolves with its exit code once it ended (removed). */
export async function runToEnd(d: DeployDeps, log: Logger, app: Pick<App, 'id' | 'name'>, release: Release & { image: string }, command: string, o: RunToEndOptions): Promise<RunResult> {
  const one = await createOneOff(d, log, app, release, { cmd: shellCommand(command), env: o.env, memory: o.memory, signal: o.signal });
  const { id, agent, dyno } = one;
  const stop = new AbortController();
  let killed: RunResult['killed'];
  const kill = (why: 'timeout' | 'aborted') => {
    if (killed) return;
    killed = why;
    void agent.killContainer(id).catch(() => undefined);
  };
  const onAbort = () => kill('aborted');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => kill('timeout'), o.timeoutMs ?? 600_000);
  try {
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
    await agent.inspectContainer(id);
    if (o.signal?.aborted) throw new SlipwayError('unavailable', 'cancelled before the process started');
    try {
      await agent.startContainer(id);
    } catch (err) {
      throw new SlipwayError('unavailable', `host ${one.host.id}: starting the process failed: ${brief(err)}`);
    }
    const dec = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    const partial = { stdout: '', stderr: '' };
    const emit = (stream: 'stdout' | 'stderr', text: string, end = false) => {
      const all = partial[stream] + text;
      const lines = all.split('\n');
      partial[stream] = end ? '' : lines.pop()!;
      for (const l of lines) if (l !== '' || !end) o.onLine(l.replace(/\r$/, ''), stream);
    };
    try {
      for (let next = await first; !next.done; next = await logs.next()) emit(next.value.stream, dec[next.value.stream].write(next.value.data));
    } catch (err) {
      if (!stop.signal.aborted && !killed) log.warn({ err, app: app.name, dyno }, 'following a one-off process failed');
    }
    for (const s of ['stdout', 'stderr'] as const) emit(s, dec[s].end(), true);
    let code = await within(exitCode, 5000).catch(() => null);
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
}
