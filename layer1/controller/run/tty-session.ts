// One interactive one-off process, once its WebSocket is open: relays the terminal both ways
// (binary frames), applies resize messages, and ends the session exactly once: the process
// exited ({"exitCode"}), its timeout ran out (137) or the platform failed ({"error"}); or the
// client left or stopped answering pings. Whatever the end, the container is killed and removed.
import type { WebSocket } from 'ws';
import type { Logger } from '../../../layer0/common/logger.ts';
import type { TtyExec } from '../../../layer0/agent/index.ts';
import { brief, within, type OneOff } from './one-off.ts';
import { TtyControl, type TtyEnd } from './tty-messages.ts';

/** Output buffered towards a slow client before we stop reading the process's terminal. */
const HIGH_WATER = 1 << 20;
/** The exit code is known when the agent ends the stream; this is only a safety net. */
const EXIT_WAIT_MS = 5000;

export interface TtySession {
  ws: WebSocket;
  exec: TtyExec;
  oneOff: OneOff;
  timeoutSec: number;
  app: string;
  log: Logger;
  /** Ping interval; a client that misses a whole interval is gone (default 30 s). */
  pingMs?: number;
}

/** Resolves when the session has ended and its container is gone. */
export function relayTty(s: TtySession): Promise<void> {
  const { ws, exec, oneOff, log } = s;
  const stream = exec.stream;
  const ctx = { app: s.app, dyno: oneOff.dyno, container: oneOff.id };
  let ended: Promise<void> | null = null;
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));

  const end = (last: TtyEnd | null, why: string): Promise<void> => {
    if (ended) return ended;
    clearTimeout(timer);
    clearInterval(ping);
    if (ws.readyState === ws.OPEN) {
      if (last) ws.send(JSON.stringify(last));
      ws.close(last && 'error' in last ? 1011 : 1000, why.slice(0, 120));
    }
    stream.destroy();
    log.info({ ...ctx, end: why, ...(last && 'exitCode' in last ? { exitCode: last.exitCode } : {}) }, 'interactive one-off process ended');
    ended = oneOff.agent.killContainer(oneOff.id).catch(() => undefined).then(oneOff.remove).then(closed);
    return ended;
  };

  // The process's terminal → the client, slowed down to what the client reads.
  let paused = false;
  stream.on('data', (chunk: Buffer) => {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(chunk, { binary: true }, () => {
      if (paused && ws.bufferedAmount < HIGH_WATER / 2) {
        paused = false;
        stream.resume();
      }
    });
    if (ws.bufferedAmount > HIGH_WATER) {
      paused = true;
      stream.pause();
    }
  });
  // The agent ends the stream once the exit code is known.
  const exited = async () => {
    if (ended) return;
    const code = await within(exec.exitCode(), EXIT_WAIT_MS).catch(() => null);
    if (code === null) void end({ error: { code: 'unavailable', message: 'the connection to the process ended, and its exit code could not be read' } }, 'lost');
    else void end({ exitCode: code }, `exited ${code}`);
  };
  stream.once('end', exited);
  stream.once('close', exited);
  stream.on('error', (err) => log.warn({ ...ctx, err: brief(err) }, 'the exec stream failed'));

  // The client → the process's terminal: binary frames are input, text frames control messages.
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) {
      if (!stream.write(buf)) {
        ws.pause();
        stream.once('drain', () => ws.resume());
      }
      return;
    }
    let msg: TtyControl;
    try {
      msg = TtyControl.parse(JSON.parse(buf.toString('utf8')));
    } catch {
      return; // not a message we know: ignored, as unknown fields are in JSON APIs
    }
    void exec.resize(msg.resize.cols, msg.resize.rows).catch((err: unknown) => log.debug({ ...ctx, err: brief(err) }, 'resize failed'));
  });
  ws.on('close', () => void end(null, 'the client disconnected'));
  ws.on('error', () => void end(null, 'the client connection failed'));

  const timer = setTimeout(() => void end({ exitCode: 137, reason: 'timeout', message: `killed: it ran longer than its ${s.timeoutSec} s timeout` }, 'timeout'), s.timeoutSec * 1000);
  let alive = true;
  ws.on('pong', () => (alive = true));
  const ping = setInterval(() => {
    if (!alive) {
      ws.terminate();
      return;
    }
    alive = false;
    ws.ping();
  }, s.pingMs ?? 30_000);

  return done;
}
