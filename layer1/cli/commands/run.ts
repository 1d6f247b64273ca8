// `slipway run -- CMD ...`: a one-off process of the app's current release. On a terminal (or
// with --tty) it is interactive: a TTY over a WebSocket (client/tty.ts, GET /v1/apps/:app/run/
// attach). Otherwise (or --no-tty, --json) POST /v1/apps/:app/run: its stdout and stderr go to
// ours as they arrive; `--json` prints the API's ndjson lines as they are. Streamed over
// node:http (fetch gives up on a body that is silent for 5 minutes). Ctrl-C closes the
// connection, which kills it. Either way we exit with its exit code.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Command } from 'commander';
import { CliError } from '../client/api.ts';
import { loadConfig } from '../client/config.ts';
import { color } from '../client/output.ts';
import { runTty } from '../client/tty.ts';
import { appOf, enc, run, withCommon, type CommonOpts } from './common.ts';

type RunOpts = CommonOpts & { env: string[]; timeout?: string; memory?: string; tty?: boolean };
type Line = { stream?: 'stdout' | 'stderr'; data?: string; exitCode?: number; reason?: string; message?: string; error?: { code: string; message: string } };

const SAFE_ARG = /^[A-Za-z0-9_@%+=:,./-]+$/;
/** One argument: a shell command line as is. Several: an argv, each quoted for `sh -c`. */
export function commandLine(args: string[]): string {
  if (args.length === 1) return args[0]!;
  return args.map((a) => (SAFE_ARG.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

const collect = (v: string, prev: string[]) => [...prev, v];

function post(url: URL, token: string, body: unknown): Promise<IncomingMessage> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = send(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), accept: 'application/x-ndjson' },
    }, resolve);
    req.on('error', reject);
    req.end(payload);
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const c of res) text += c;
  return text;
}

export function registerRun(program: Command): void {
  withCommon(program.command('run').argument('<command...>', 'the command (put it after --)').description('run a one-off process of the current release; exits with its exit code'))
    .option('-e, --env <KEY=value>', 'set an environment variable for this run (repeatable)', collect, [])
    .option('--timeout <seconds>', 'kill it (exit 137) after this many seconds, 1-3600 (default 600)')
    .option('-m, --memory <size>', 'memory limit, e.g. 512M (default 256M)')
    .option('-t, --tty', 'interactive, with a TTY, even when our stdin or stdout is not a terminal')
    .option('--no-tty', 'not interactive, even on a terminal: stdout and stderr apart, no stdin')
    .addHelpText('after', `
The command runs as \`/bin/sh -c\` (through the slug's launcher when there is one, which sources
.profile.d first) in a new container of the app's current release, with its
config vars, SLIPWAY_APP, SLIPWAY_RELEASE and DYNO=run.N (no PORT). One argument is taken as a
shell command line; several are quoted and joined. Put it after \`--\`:

  slipway run -a shop -- 'echo $DATABASE_URL'
  slipway run -a shop --env DEBUG=1 -- sh -c 'echo out; exit 5'

When our stdin and stdout are terminals (or with --tty), it is interactive: it gets a TTY
sized like ours (and resized with it), our keystrokes (Ctrl-C included) and our terminal in raw
mode until it exits; closing the session kills it. The timeout defaults to 3600 s there.

  slipway run -a shop -- bash

Otherwise (--no-tty, --json, or a pipe) it has no TTY and no stdin: its stdout and stderr go to
ours as they arrive; Ctrl-C (or --timeout) kills it. With --json, the API's lines are printed
as they are: {"stream","data"} then {"exitCode"}.`)
    .action(run(async (args: string[], opts: RunOpts) => {
      const app = appOf(opts);
      const env: Record<string, string> = {};
      for (const p of opts.env) {
        const i = p.indexOf('=');
        if (i < 1) throw new CliError(`--env: expected KEY=value, got ${JSON.stringify(p)}`);
        env[p.slice(0, i)] = p.slice(i + 1);
      }
      let timeoutSec: number | undefined;
      if (opts.timeout !== undefined) {
        timeoutSec = Number(opts.timeout);
        if (!Number.isInteger(timeoutSec) || timeoutSec < 1 || timeoutSec > 3600) throw new CliError(`--timeout: expected whole seconds from 1 to 3600, got ${JSON.stringify(opts.timeout)}`);
      }
      const cfg = loadConfig();
      if (!cfg.token) throw new CliError('not logged in: run `slipway login` (or set SLIPWAY_TOKEN)');
      if (opts.tty && opts.json) throw new CliError('--tty and --json do not mix: the --json output is the non-interactive stream');
      if (opts.tty ?? (!opts.json && process.stdin.isTTY === true && process.stdout.isTTY === true)) {
        // Our TERM, so full-screen programs draw for our terminal (unless --env says otherwise).
        if (process.env.TERM && env.TERM === undefined) env.TERM = process.env.TERM;
        process.exitCode = await runTty({ url: cfg.url, token: cfg.token, app, command: commandLine(args), env, timeoutSec, memory: opts.memory });
        return;
      }
      const body = { command: commandLine(args), ...(Object.keys(env).length ? { env } : {}), ...(timeoutSec ? { timeoutSec } : {}), ...(opts.memory ? { memory: opts.memory } : {}) };
      let res: IncomingMessage;
      try {
        res = await post(new URL(`${cfg.url}/v1/apps/${enc(app)}/run`), cfg.token, body);
      } catch (err) {
        throw new CliError(`cannot reach Slipway at ${cfg.url} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); is it running? (slipway up, or set SLIPWAY_URL)`);
      }
      if ((res.statusCode ?? 0) >= 300) {
        const text = await readAll(res);
        let e: { message?: string } | undefined;
        try {
          e = (JSON.parse(text) as { error?: { message?: string } }).error;
        } catch {
          /* not JSON */
        }
        throw new CliError(`${e?.message ?? `${res.statusCode} ${res.statusMessage}`}${res.statusCode === 401 ? ' (run `slipway login`)' : ''}`);
      }

      let exitCode: number | null = null;
      let failure: string | null = null;
      let buf = '';
      const handle = (raw: string) => {
        if (!raw.trim()) return;
        if (opts.json) process.stdout.write(`${raw}\n`);
        let line: Line;
        try {
          line = JSON.parse(raw) as Line;
        } catch {
          return;
        }
        if (line.stream && typeof line.data === 'string') {
          if (!opts.json) (line.stream === 'stderr' ? process.stderr : process.stdout).write(line.data);
        } else if (typeof line.exitCode === 'number') {
          exitCode = line.exitCode;
          if (line.reason && !opts.json) process.stderr.write(`${color.yellow('!')} ${line.message ?? line.reason}\n`);
        } else if (line.error) {
          failure = line.error.message;
        }
      };
      res.setEncoding('utf8');
      try {
        for await (const chunk of res as AsyncIterable<string>) {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            handle(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
          }
        }
      } catch (err) {
        throw new CliError(`the connection to Slipway broke: ${(err as Error).message}`);
      }
      handle(buf);
      if (exitCode === null) throw new CliError(failure ?? 'the run ended without an exit code');
      process.exitCode = exitCode;
    }));
}
