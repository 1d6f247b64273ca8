// Client sockets that read into one shared buffer (net's `onread`) instead of a new Buffer per
// read pushed through the stream machinery: about 1 µs less per request, a twelfth of the proxy's
// CPU on small requests. net.Server has no `onread` option, so the accepted socket (paused on
// connect, never read) hands its handle to a new Socket that has one; the server's connection
// count moves with it. This leans on net internals (`_handle`, the `handle` option, `_server`)
// that Node 20 has; when they are missing, the accepted socket is used as it is.
import { Socket, type Server } from 'node:net';

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

type Internal = Socket & { _handle?: unknown; _server?: Server | null; server?: Server | null };

/**
 * A socket reading into the shared buffer in place of `accepted` (created with
 * `pauseOnConnect: true`), or null when this Node cannot do it (then resume `accepted`).
 * `onRead` is called with the socket as `this`, so it needs no closure per connection.
 */
export function adoptWithSharedReads(server: Server, accepted: Socket, onRead: (this: Socket, n: number, buf: Buffer) => void): Socket | null {
  const a = accepted as Internal;
  if (a._handle === undefined || a._handle === null || a._server !== server) return null;
  let s: Internal;
  try {
    s = new Socket({ handle: a._handle, allowHalfOpen: true, onread: { buffer: CLIENT_READ_BUFFER, callback: onRead } } as ConstructorParameters<typeof Socket>[0]) as Internal;
  } catch {
    return null;
  }
  // close() waits for the count of open connections to reach 0; the new socket now decrements it
  s.server = server;
  s._server = server;
  a._server = null;
  return s;
}
