// Connections to backends: one socket per in-flight request, kept open afterwards (HTTP/1.1
// keep-alive) in a per-backend idle stack, most recently used first so the warm ones get reused
// and the cold ones age out. A connection belongs to one client connection at a time; its socket
// events go straight to that client (no per-request closures).
import { connect, type Socket } from 'node:net';
import type { Backend } from '../types.ts';

/** What a backend connection reports to the client connection it serves. */
export interface BackendUser {
  onBackendConnect(c: BackendConn): void;
  /** `chunk` is only valid during the call (see READ_BUFFER). */
  onBackendData(chunk: Buffer): void;
  onBackendDrain(): void;
  onBackendClose(c: BackendConn): void;
}

/**
 * One read buffer for every backend socket (net's `onread`): reads land in it in place, without a
 * Buffer per read or the stream machinery. A chunk handed to onBackendData is valid only during
 * that call: whatever is kept or written on is copied.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** The most idle connections kept per backend; more are closed when released. */
const MAX_IDLE = 256;

export class BackendConn {
  readonly sock: Socket;
  user: BackendUser | null;
  connected = false;
  /** It served a request before this one (so a failure may be a keep-alive race, not the backend). */
  reused = false;
  idle = false;
  paused = false;
  /** performance.now() of the connect start, or of the moment it went idle. */
  since: number;
  /** How long it may stay idle: the proxy's idle timeout, or less when the backend said so. */
  maxIdleMs = Infinity;
  /** The sweep killed it for taking longer than connectMs. */
  timedOut = false;
  error: NodeJS.ErrnoException | null = null;

  constructor(
    readonly pool: BackendPool,
    readonly backend: Backend,
    user: BackendUser,
  ) {
    this.user = user;
    this.since = performance.now();
    this.sock = connect({ host: backend.host, port: backend.port, noDelay: true, onread: { buffer: READ_BUFFER, callback: this.onRead } });
    this.sock.on('connect', this.onConnect);
    this.sock.on('drain', this.onDrain);
    this.sock.on('error', this.onError);
    this.sock.on('close', this.onClose);
  }

  private readonly onConnect = () => {
    this.connected = true;
    this.user?.onBackendConnect(this);
  };

  private readonly onRead = (n: number, buf: Uint8Array): boolean => {
    if (this.user !== null) this.user.onBackendData((buf as Buffer).subarray(0, n));
    else this.sock.destroy(); // bytes nobody asked for: the connection is out of step
    return true;
  };

  private readonly onDrain = () => {
    this.user?.onBackendDrain();
  };

  private readonly onError = (err: NodeJS.ErrnoException) => {
    this.error = err;
  };

  private readonly onClose = () => {
    this.pool.forget(this);
    const u = this.user;
    this.user = null;
    u?.onBackendClose(this);
  };

  pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.sock.pause();
    }
  }

  resume(): void {
    if (this.paused) {
      this.paused = false;
      this.sock.resume();
    }
  }

  /** Closes it without telling its user (who already knows). */
  discard(): void {
    this.user = null;
    this.sock.destroy();
  }
}

export class BackendPool {
  /**
   * Idle connections by backend object: the control plane keeps a backend's object while its
   * address stays the same and makes a new one when it changes (backends.ts), so the object is
   * the key, with no string built per request.
   */
  private readonly idleBy = new Map<Backend, BackendConn[]>();
  readonly all = new Set<BackendConn>();
  idleCount = 0;

  /** An idle keep-alive connection to `b`, or a new one (connecting: wait for onBackendConnect). */
  acquire(b: Backend, user: BackendUser): BackendConn {
    const list = this.idleBy.get(b);
    if (list !== undefined) {
      while (list.length > 0) {
        const c = list.pop()!;
        this.idleCount--;
        c.idle = false;
        // The backend may be closing one that sat idle nearly as long as it keeps them.
        if (c.sock.destroyed || c.sock.readableEnded || performance.now() - c.since >= c.maxIdleMs) {
          c.sock.destroy();
          continue;
        }
        c.user = user;
        c.reused = true;
        return c;
      }
    }
    const c = new BackendConn(this, b, user);
    this.all.add(c);
    return c;
  }

  /** Back to the idle stack after a complete exchange; `maxIdleMs` from the backend's Keep-Alive, if any. */
  release(c: BackendConn, maxIdleMs: number): void {
    c.maxIdleMs = maxIdleMs;
    c.user = null;
    c.resume();
    let list = this.idleBy.get(c.backend);
    if (list === undefined) this.idleBy.set(c.backend, (list = []));
    if (list.length >= MAX_IDLE) {
      c.sock.destroy();
      return;
    }
    c.idle = true;
    c.since = performance.now();
    list.push(c);
    this.idleCount++;
  }

  forget(c: BackendConn): void {
    this.all.delete(c);
    if (!c.idle) return;
    c.idle = false;
    const list = this.idleBy.get(c.backend);
    const at = list ? list.indexOf(c) : -1;
    if (at >= 0) {
      list!.splice(at, 1);
      this.idleCount--;
      if (list!.length === 0) this.idleBy.delete(c.backend);
    }
  }

  /** Closes idle connections older than idleMs and connects slower than connectMs. */
  sweep(now: number, idleMs: number, connectMs: number): void {
    for (const c of this.all) {
      if (c.idle) {
        if (now - c.since > Math.min(idleMs, c.maxIdleMs)) c.sock.destroy();
      } else if (!c.connected && now - c.since > connectMs) {
        c.timedOut = true;
        c.sock.destroy();
      }
    }
  }

  destroyAll(): void {
    for (const c of this.all) c.sock.destroy();
  }
}
