// Client sockets that read into one shared buffer (net's `onread`) instead of a new Buffer per
// read pushed through the stream machinery: about 1 µs less per request, a sixteenth of the
// proxy's CPU on small requests. net.connect takes `onread`, net.Server does not, so an accepted
// socket (paused on connect, never read yet) gets what the option would have set: the socket's
// own kBuffer/kBufferCb/kBufferGen slots (found by their symbols' descriptions) and the handle's
// useUserBuffer. That leans on Node 20's net internals; when they are not there, the socket is
// left as it is and reads through 'data' events.
import { Socket } from 'node:net';

/** Where every plain-HTTP client read lands; a chunk is valid only during its callback. */
const CLIENT_READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** True when `b` is a view of the shared read buffer (so it must be copied to be kept or written). */
export function isShared(b: Buffer): boolean {
  return b.buffer === CLIENT_READ_BUFFER.buffer;
}

/** `b`, or a copy of it when it is a view of the shared read buffer. */
export function owned(b: Buffer): Buffer {
  return b.buffer === CLIENT_READ_BUFFER.buffer ? Buffer.from(b) : b;
}

type Slots = { buffer: symbol; callback: symbol; gen: symbol };
let slots: Slots | null | undefined;

function findSlots(): Slots | null {
  const probe = new Socket();
  const by = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  const [buffer, callback, gen] = [by.get('kBuffer'), by.get('kBufferCb'), by.get('kBufferGen')];
  probe.destroy();
  return buffer && callback && gen ? { buffer, callback, gen } : null;
}

/**
 * Makes `sock` (accepted with `pauseOnConnect: true`, not resumed yet) read into the shared
 * buffer: `onRead` is called with the socket as `this` (no closure per connection). False when
 * this Node cannot; the caller then reads with 'data' events. Either way, resume() starts reading.
 */
export function useSharedReads(sock: Socket, onRead: (this: Socket, n: number, buf: Buffer) => void): boolean {
  if (slots === undefined) slots = findSlots();
  const handle = (sock as Socket & { _handle?: { useUserBuffer?: (b: Uint8Array) => void; reading?: boolean } })._handle;
  if (slots === null || typeof handle?.useUserBuffer !== 'function' || handle.reading) return false;
  const s = sock as unknown as Record<symbol, unknown>;
  if (s[slots.buffer] !== null || s[slots.callback] !== null) return false;
  handle.useUserBuffer(CLIENT_READ_BUFFER);
  s[slots.buffer] = CLIENT_READ_BUFFER;
  s[slots.callback] = onRead;
  s[slots.gen] = null;
  return true;
}
