// The interactive side of `slipway run`: a WebSocket to GET /v1/apps/:app/run/attach, our terminal
// in raw mode (keystrokes, Ctrl-C included, go to the remote terminal as binary frames), its
// output to ours, SIGWINCH → a resize message, and our terminal restored however it ends.
// Resolves with the remote exit code.
import { WebSocket } from 'ws';
import { CliError } from './api.ts';
import { color } from './output.ts';

export interface TtyRun {
  /** The platform's base URL (without /v1) and the token. */
  url: string;
  token: string;
  app: string;
  command: string;
  env: Record<string, string>;
  timeoutSec?: number;
  memory?: string;
}

type End = { exitCode?: number; reason?: string; message?: string; error?: { code: string; message: string } };

function attachUrl(o: TtyRun, size: { cols?: number; rows?: number }): URL {
  const u = new URL(`${o.url}/v1/apps/${encodeURIComponent(o.app)}/run/attach`);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.searchParams.set('command', o.command);
  for (const [k, v] of Object.entries(o.env)) u.searchParams.append('env', `${k}=${v}`);
  if (size.cols && size.rows) {
    u.searchParams.set('cols', String(size.cols));
    u.searchParams.set('rows', String(size.rows));
  }
  if (o.timeoutSec) u.searchParams.set('timeoutSec', String(o.timeoutSec));
  if (o.memory) u.searchParams.set('memory', o.memory);
  return u;
}

/** Opens the session; a refusal (401, 404, 409…) becomes a CliError with the API's message. */
function connect(o: TtyRun, size: { cols?: number; rows?: number }): Promise<WebSocket> {
  const ws = new WebSocket(attachUrl(o, size), { headers: { authorization: `Bearer ${o.token}` }, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let message = `${res.statusCode} ${res.statusMessage}`;
        try {
          message = (JSON.parse(text) as { error: { message: string } }).error.message ?? message;
        } catch {
          /* not JSON */
        }
        reject(new CliError(`${message}${res.statusCode === 401 ? ' (run `slipway login`)' : ''}`));
      });
    });
    ws.once('error', (err: NodeJS.ErrnoException) => reject(new CliError(`cannot reach Slipway at ${o.url} (${err.code ?? err.message}); is it running? (slipway up, or set SLIPWAY_URL)`)));
  });
}

export async function runTty(o: TtyRun): Promise<number> {
  const { stdin, stdout, stderr } = process;
  const size = () => (stdout.isTTY ? { cols: stdout.columns, rows: stdout.rows } : {});
  const ws = await connect(o, size());

  const raw = stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  let last: End | null = null;
  const onInput = (d: Buffer) => ws.send(d, { binary: true });
  // Input that is not a terminal (a pipe) ends with an EOF character, as typing Ctrl-D would.
  const onEnd = () => ws.readyState === ws.OPEN && ws.send(Buffer.from([4]), { binary: true });
  const onResize = () => {
    const s = size();
    if (s.cols && s.rows && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ resize: s }));
  };
  // Killed or hung up: closing the session kills the remote process.
  const onSignal = () => ws.close();
  stdin.on('data', onInput);
  stdin.on('end', onEnd);
  stdout.on('resize', onResize);
  for (const s of ['SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  stdin.resume();

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      try {
        last = JSON.parse(data.toString('utf8')) as End;
      } catch {
        /* not ours */
      }
      return;
    }
    if (!stdout.write(data)) {
      ws.pause();
      stdout.once('drain', () => ws.resume());
    }
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.on('error', () => undefined); // 'close' follows
  try {
    await closed;
  } finally {
    stdin.off('data', onInput);
    stdin.off('end', onEnd);
    stdout.off('resize', onResize);
    for (const s of ['SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  }
  const end = last as End | null;
  if (end?.error) throw new CliError(end.error.message);
  if (typeof end?.exitCode !== 'number') throw new CliError('the session ended without an exit code (the connection to Slipway was lost)');
  if (end.reason) stderr.write(`\r\n${color.yellow('!')} ${end.message ?? end.reason}\n`);
  return end.exitCode;
}
