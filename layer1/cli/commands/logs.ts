// `slipway logs` (tail and follow an app's log, Heroku's format, coloured by process on a TTY)
// and `slipway drains`, `drains:add URL`, `drains:remove ID`.
import { formatBytes, parseSize } from '../../../layer0/common/settings.ts';
import type { Command } from 'commander';
import { durationMs } from '../../../layer0/common/time.ts';
import { CliError } from '../client/api.ts';
import { loadConfig } from '../client/config.ts';
import { color, ok, printJson, printTable } from '../client/output.ts';
import { api, appOf, enc, run, withCommon, type CommonOpts } from './common.ts';

interface Line {
  id: string;
  time: string;
  source: 'app' | 'router' | 'platform';
  type?: string;
  process?: string;
  stream?: string;
  message: string;
  part?: string;
}

const PALETTE = [36, 32, 33, 35, 34, 96, 92, 93, 95, 94];
const colours = new Map<string, number>();
const tty = () => process.stdout.isTTY === true && !process.env.NO_COLOR;

// C0 controls but tab, DEL and C1 controls (U+0080–U+009F; 0x9B alone is a CSI to many terminals).
const CONTROLS = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

/**
 * An app's bytes made harmless for a terminal (L6): every control character but tab is shown as
 * `\xHH`, so a log line can neither move the cursor, rewrite the screen, set the window title nor
 * smuggle an escape sequence into the terminal. Applied when stdout is a TTY.
 */
export function escapeControls(s: string): string {
  return s.replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** NDJSON for a terminal: JSON already escapes C0 in strings, not C1 (valid JSON either way). */
export function escapeJsonControls(s: string): string {
  return s.replace(/[\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `2026-01-01T10:00:00.123456Z app[web.1]: hello` (Heroku's shape); control characters escaped for a terminal. */
export function formatLine(l: Line, useColour = tty(), escape = process.stdout.isTTY === true): string {
  if (escape) l = { ...l, message: escapeControls(l.message), ...(l.process ? { process: escapeControls(l.process) } : {}), ...(l.type ? { type: escapeControls(l.type) } : {}) };
  const who = l.source === 'app' ? `app[${l.process ?? l.type ?? '?'}]` : l.source === 'router' ? 'slipway[router]' : `slipway[${l.process ?? 'platform'}]`;
  const time = l.time.replace(/(\.\d{6})\d*Z$/, '$1Z');
  if (!useColour) return `${time} ${who}: ${l.message}`;
  const key = l.source === 'app' ? (l.process ?? '') : l.source;
  if (!colours.has(key)) colours.set(key, PALETTE[colours.size % PALETTE.length]!);
  const c = l.source === 'platform' ? 2 : colours.get(key)!;
  const msg = l.stream === 'stderr' ? color.red(l.message) : l.message;
  return `\x1b[2m${time}\x1b[0m \x1b[${c}m${who}:\x1b[0m ${msg}`;
}

interface LogsOpts extends CommonOpts {
  follow?: boolean;
  tail?: string;
  ps?: string;
  source?: string;
  since?: string;
  release?: string;
}

async function streamLogs(app: string, o: LogsOpts): Promise<void> {
  const cfg = loadConfig();
  if (!cfg.token) throw new CliError('not logged in: run `slipway login` (or set SLIPWAY_TOKEN)');
  const u = new URL(`${cfg.url}/v1/apps/${enc(app)}/logs`);
  const q: Record<string, string | undefined> = { tail: o.tail, ps: o.ps, source: o.source, since: o.since, release: o.release, follow: o.follow ? 'true' : undefined };
  for (const [k, v] of Object.entries(q)) if (v !== undefined) u.searchParams.set(k, v);
  let res: Response;
  try {
    res = await fetch(u, { headers: { authorization: `Bearer ${cfg.token}`, accept: 'application/x-ndjson' } });
  } catch (err) {
    throw new CliError(`cannot reach Slipway at ${cfg.url} (${(err as Error).message}); is it running?`);
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new CliError(body?.error?.message ?? `${res.status} ${res.statusText}`);
  }
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    let out = '';
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!text) continue;
      out += o.json ? `${process.stdout.isTTY ? escapeJsonControls(text) : text}\n` : `${formatLine(JSON.parse(text) as Line)}\n`;
    }
    if (out && !process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
  }
}

export function registerLogs(program: Command): void {
  withCommon(program.command('logs').description("show the app's log (processes, router, platform); -f to follow"))
    .option('-f, --follow', 'keep following new lines')
    .option('-n, --tail <n>', 'lines before the present (default 100)')
    .option('-p, --ps <ps>', 'one process type (web) or process (web.1)')
    .option('-s, --source <source>', 'app, router or platform')
    .option('--since <since>', 'a time or a duration (10m, 2h)')
    .option('--release <release>', 'one release (v7)')
    .action(run(async (o: LogsOpts) => streamLogs(appOf(o), o)));

  withCommon(program.command('drains').description("list the app's log drains"))
    .action(run(async (o: CommonOpts) => {
      const r = await api().get<{ items: { id: string; url: string; createdAt: string }[] }>(`/apps/${enc(appOf(o))}/drains`);
      if (o.json) return printJson(r.items);
      if (!r.items.length) return void process.stdout.write('no drains\n');
      printTable(['ID', 'URL', 'CREATED'], r.items.map((d) => [d.id, d.url, d.createdAt]));
    }));

  withCommon(program.command('drains:add').argument('<url>', 'syslog://host:port or https://…').description('send the app\'s log to a syslog server (RFC 5424 over TCP) or an HTTPS endpoint'))
    .action(run(async (url: string, o: CommonOpts) => {
      const app = appOf(o);
      const d = await api().request<{ id: string; url: string }>('POST', `/apps/${enc(app)}/drains`, { url });
      if (o.json) return printJson(d);
      ok(`drain ${d.id} added to ${app}: ${d.url}`);
    }));

  withCommon(program.command('drains:remove').argument('<id>', 'the drain id (drn_…)').description('remove a log drain'))
    .action(run(async (id: string, o: CommonOpts) => {
      const app = appOf(o);
      await api().request('DELETE', `/apps/${enc(app)}/drains/${enc(id)}`);
      if (o.json) return printJson({ removed: id });
      ok(`drain ${id} removed from ${app}`);
    }));

  withCommon(program.command('logs:retention').description('show or set how many log lines, how long and how many bytes the app keeps'))
    .option('--lines <n>', 'lines kept (default 100000)')
    .option('--age <duration>', 'how long lines are kept: seconds or 12h, 7d (default 7d)')
    .option('--bytes <size>', 'bytes kept: 32M, 1G (default: the platform\'s SLIPWAY_LOG_BYTES; at most its SLIPWAY_LOG_MAX_BYTES)')
    .action(run(async (o: CommonOpts & { lines?: string; age?: string; bytes?: string }) => {
      const app = appOf(o);
      const body: Record<string, number> = {};
      if (o.lines) body.maxLines = Number(o.lines);
      if (o.bytes) {
        const n = parseSize(o.bytes);
        if (n === null) throw new CliError('--bytes: a size like 32M or 1G');
        body.maxBytes = n;
      }
      if (o.age) {
        const ms = durationMs(o.age, { units: ['s', 'm', 'h', 'd'], bare: 's', integer: true });
        if (ms === null) throw new CliError('--age: seconds, or a number with s, m, h or d');
        body.maxAgeSec = ms / 1000;
      }
      const s = Object.keys(body).length
        ? await api().request<{ maxLines: number; maxAgeSec: number; maxBytes?: number }>('PATCH', `/apps/${enc(app)}/log-settings`, body)
        : await api().get<{ maxLines: number; maxAgeSec: number; maxBytes?: number }>(`/apps/${enc(app)}/log-settings`);
      if (o.json) return printJson(s);
      const bytes = s.maxBytes ? ` and ${formatBytes(s.maxBytes)}` : '';
      process.stdout.write(`${app} keeps ${s.maxLines} lines${bytes}, at most ${s.maxAgeSec % 86400 === 0 ? `${s.maxAgeSec / 86400}d` : `${s.maxAgeSec}s`}\n`);
    }));
}
