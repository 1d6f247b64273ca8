// One client connection: the proxy's hot path. A small state machine driven by socket events
// (no per-request closures, no node:http): read a request head, route it, hand it to a pooled
// backend connection, relay the request body by its framing, parse the response head, relay the
// response body by its framing, then return the backend connection to the pool and read the next
// request. One request at a time; bytes of a pipelined next request wait in `buf`.
// Over 600 lines on purpose: it is one state machine whose transitions all read and write the
// same request/response fields, and keeping them in one class (one hidden class, no per-request
// objects or closures) is what makes it fast; everything that stands alone (parsing, chunk
// framing, heads, pages, pool, balancer, metrics) lives in its own file.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { AppRoute, Backend, BackendPool as AppPool } from '../types.ts';
import type { BackendConn, BackendUser } from './backend-pool.ts';
import { pickBackend } from './balancer.ts';
import { ChunkScanner } from './chunked.ts';
import type { ProxyCore } from './core.ts';
import { forwardRequestHead, responseHead } from './headers.ts';
import { page } from './pages.ts';
import { dropLine, hasBareLf, hasToken, headEnd, HeadError, parseRequestHead, parseResponseHead, validHost, type RequestHead, type ResponseHead } from './parse.ts';
import { isShared, owned } from './shared-read.ts';

// Connection states.
const HEAD = 0; // waiting for a request head
const CONNECTING = 1; // routed, waiting for a backend connection
const BODY = 2; // head sent, relaying the request body
const AWAIT = 3; // request sent, waiting for / relaying the response
const TUNNEL = 4; // after a 101: bytes both ways
const CLOSED = 5;

// Response framing.
const RES_HEAD = 0; // no response head yet
const RES_NONE = 1; // no body (HEAD, 204, 304)
const RES_LENGTH = 2;
const RES_CHUNKED = 3;
const RES_CLOSE = 4; // until the backend closes

/** Connect attempts per request (other backends after a refused connect, a fresh socket after a keep-alive race). */
const MAX_ATTEMPTS = 4;
/** Pipelined bytes buffered while a request is in flight before the client is paused. */
const MAX_EARLY = 64 * 1024;
const MAX_RESPONSE_HEAD = 64 * 1024;
/** Bodies up to this size go out in one buffer with their head. */
const SMALL_BODY = 16 * 1024;
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;
const ABSOLUTE = /^https?:\/\/([^/?#]*)/i;

// Socket events reach their connection through a symbol on the socket and module-level handlers:
// per-connection closures would cost ~1.5 KiB each under tsx (it names every function), which is
// most of an idle keep-alive connection.
const CONN = Symbol('slipway.clientConn');
type ConnSocket = Socket & { [CONN]: ClientConn };
function onSockData(this: ConnSocket, chunk: Buffer): void {
  this[CONN].onData(chunk);
}
/** The `onread` callback of a client socket that reads into the shared buffer (shared-read.ts). */
export function onSharedRead(this: Socket, n: number, buf: Buffer): void {
  (this as ConnSocket)[CONN].onData(buf.subarray(0, n));
}
function onSockDrain(this: ConnSocket): void {
  this[CONN].onDrain();
}
function onSockEnd(this: ConnSocket): void {
  this[CONN].onEnd();
}
function onSockError(): void {
  // 'close' follows; a client going away is not the router's problem to log
}
function onSockClose(this: ConnSocket): void {
  this[CONN].onClose();
}

function idempotent(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'PUT':
    case 'DELETE':
    case 'OPTIONS':
    case 'TRACE':
      return true;
  }
  return false;
}

/** `Host` without its port, lowercased ("[::1]:80" → "[::1]"). */
function hostname(v: string): string {
  const colon = v.lastIndexOf(':');
  const h = colon >= 0 && v.indexOf(']', colon) < 0 ? v.slice(0, colon) : v;
  return h.toLowerCase();
}

export class ClientConn implements BackendUser {
  private state = HEAD;
  private buf: Buffer | null = null;
  private paused = false;
  /** readRequests() is on the stack (answers made while reading must not start it again). */
  private reading = false;
  /** The client half-closed (sent FIN); answer what is in flight, then close. */
  private ended = false;
  private lastActive: number;
  /** performance.now() at the first byte of the request head being read (its deadline runs from there). */
  private headStart = 0;
  private readonly ip: string;
  private readonly port: number;

  // The request in flight.
  private req: RequestHead | null = null;
  private app: AppRoute | null = null;
  private appPool: AppPool | null = null;
  private host = '';
  private path = '';
  private requestId = '';
  /** performance.now() when the request's head was read. */
  private start = 0;
  /** Date.now() then (X-Request-Start, and the balancer's view of ejections). */
  private wallStart = 0;
  private keepAlive = true;
  private upgrade = false;
  private reqLeft = 0;
  private reqChunk: ChunkScanner | null = null;
  private reqDone = true;
  private fwdHead: Buffer | null = null;
  /** Body bytes that came with the head (sent with it; kept for a retry). */
  private held: Buffer | null = null;
  /** Nothing beyond `held` went to a backend yet: the request can be sent again. */
  private heldAll = true;
  private bytesIn = 0;
  private bytesOut = 0;
  private backend: Backend | null = null;
  /** The backend that got the request last (for the access record). */
  private backendId: string | null = null;
  private conn: BackendConn | null = null;
  private tried: Backend[] | null = null;
  private attempts = 0;
  private connectError: string | null = null;
  private sentAt = 0;
  private status = 0;
  private error: string | undefined = undefined;
  private recorded = true;

  // The response in flight.
  private resMode = RES_HEAD;
  private resBuf: Buffer | null = null;
  private resLeft = 0;
  private resChunk: ChunkScanner | null = null;
  private resStarted = false;
  private resDone = false;
  private connReusable = true;
  /** The response ends with the backend's close and goes to the client chunked. */
  private reframe = false;
  /** How long the backend keeps this connection idle (its Keep-Alive timeout less a margin). */
  private connMaxIdle = Infinity;

  constructor(
    private readonly core: ProxyCore,
    private readonly sock: Socket,
    private readonly proto: 'http' | 'https',
    /** The socket reads through onSharedRead (views of the shared buffer), not 'data' events. */
    sharedReads = false,
  ) {
    const ip = sock.remoteAddress ?? '';
    this.ip = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    this.port = sock.localPort ?? 0;
    this.lastActive = performance.now();
    sock.setNoDelay(true);
    (sock as ConnSocket)[CONN] = this;
    if (!sharedReads) sock.on('data', onSockData);
    sock.on('drain', onSockDrain);
    sock.on('end', onSockEnd);
    sock.on('error', onSockError);
    sock.on('close', onSockClose);
    core.clients.add(this);
    core.metrics.openConnections++;
  }

  // ---- client socket events ----

  /**
   * `chunk` may be a view of the shared read buffer, valid only during this call: what is kept
   * (`buf`, `held`) or written on is copied (see the end of this method, send, relayBody).
   */
  onData(chunk: Buffer): void {
    this.lastActive = performance.now();
    switch (this.state) {
      case HEAD:
        if (this.buf === null) {
          this.headStart = this.lastActive;
          this.buf = chunk;
        } else this.buf = Buffer.concat([this.buf, chunk]);
        this.readRequests();
        break;
      case BODY:
        this.relayBody(chunk);
        break;
      case TUNNEL:
        this.bytesIn += chunk.length;
        if (this.conn !== null && !this.conn.sock.write(owned(chunk))) this.pause();
        return;
      case CLOSED:
        return;
      default: // CONNECTING or AWAIT: early bytes (the body, or the next pipelined request)
        this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
        if (this.buf.length > MAX_EARLY) this.pause();
    }
    if (this.buf !== null && isShared(this.buf)) this.buf = Buffer.from(this.buf);
  }

  onDrain(): void {
    this.conn?.resume();
  }

  onEnd(): void {
    this.ended = true;
    if (this.state === HEAD) this.sock.end();
    else if (this.state === TUNNEL) this.conn?.sock.end();
  }

  onClose(): void {
    this.core.clients.delete(this);
    this.core.metrics.openConnections--;
    const wasTunnel = this.state === TUNNEL;
    this.state = CLOSED;
    if (this.conn !== null) {
      this.conn.discard();
      this.conn = null;
    }
    this.releaseBackend(false);
    if (!this.recorded) {
      if (!wasTunnel) {
        this.status = this.resStarted ? this.status : 499;
        this.error = 'client_closed';
      }
      this.record();
    }
  }

  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.sock.pause();
    }
  }

  private resume(): void {
    if (this.paused) {
      this.paused = false;
      this.sock.resume();
    }
  }

  // ---- requests ----

  /** Starts every complete request head in `buf`, one at a time. */
  private readRequests(): void {
    if (this.reading) return; // already in the loop below, further up the stack
    this.reading = true;
    try {
      this.readLoop();
    } finally {
      this.reading = false;
    }
  }

  private readLoop(): void {
    while (this.state === HEAD && this.buf !== null) {
      const buf = this.buf;
      const end = headEnd(buf);
      if (end < 0 || end > this.core.maxHeaderBytes) {
        if (buf.length > this.core.maxHeaderBytes) return this.badRequest(431, 'the request head is larger than the router accepts');
        if (hasBareLf(buf)) return this.badRequest(400, 'a line ending without CR');
        if (this.ended) this.sock.end();
        return;
      }
      this.buf = end < buf.length ? buf.subarray(end) : null;
      // a pipelined next head's deadline starts now, not when its first bytes came along
      if (this.buf !== null) this.headStart = this.lastActive;
      let h: RequestHead;
      try {
        h = parseRequestHead(buf.toString('latin1', 0, end));
      } catch (err) {
        if (err instanceof HeadError) return this.badRequest(err.status, err.reason);
        throw err;
      }
      this.begin(h, buf);
    }
  }

  private badRequest(status: number, why: string, code = 'bad_request'): void {
    this.start = performance.now();
    this.recorded = false;
    this.keepAlive = false;
    if (this.req === null) {
      this.host = '';
      this.path = '';
    }
    this.req = null;
    this.app = null;
    this.backend = null;
    this.backendId = null;
    this.bytesIn = this.buf?.length ?? 0;
    this.buf = null;
    this.requestId = randomUUID();
    const title = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    this.answer(status, code, title, `The router refused this request: ${why}.`);
  }

  /** `src` holds the head from its first byte (read here, not kept). */
  private begin(h: RequestHead, src: Buffer): void {
    this.req = h;
    // the clock was read when these bytes arrived (onData), or when the last exchange ended
    this.start = this.lastActive;
    this.wallStart = Date.now();
    this.recorded = false;
    this.bytesIn = h.size;
    this.bytesOut = 0;
    this.error = undefined;
    this.status = 0;
    this.app = null;
    this.appPool = null;
    this.backend = null;
    this.backendId = null;
    this.tried = null;
    this.attempts = 0;
    this.connectError = null;
    this.held = null;
    this.resStarted = false;
    this.resDone = false;
    this.requestId = h.requestId !== null && REQUEST_ID.test(h.requestId) ? h.requestId : randomUUID();
    this.keepAlive = h.minor === 1 ? !hasToken(h.connection, 'close') : hasToken(h.connection, 'keep-alive');
    this.upgrade = h.upgrade !== null && hasToken(h.connection, 'upgrade');
    if (h.chunked) {
      this.reqChunk = new ChunkScanner();
      this.reqDone = false;
    } else {
      this.reqChunk = null;
      this.reqLeft = h.contentLength > 0 ? h.contentLength : 0;
      this.reqDone = this.reqLeft === 0;
    }

    let target = h.target;
    let hostValue = h.host ?? '';
    /** The Host the backend gets instead of the client's (absolute-form only); null: the client's line as it came. */
    let rewriteHost: string | null = null;
    if (target.charCodeAt(0) !== 47 /* / */) {
      const abs = ABSOLUTE.exec(target);
      if (abs !== null) {
        // absolute-form (RFC 9112 §3.2.2): its authority wins over Host, and replaces it on the
        // way to the backend, so the app sees the host the request was routed by (M4)
        hostValue = abs[1];
        if (hostValue === '') return this.badRequest(400, 'an absolute-form target without a host');
        if (hostValue !== h.host) {
          rewriteHost = hostValue;
          if (h.hostStart >= 0) dropLine(h, h.hostStart, h.hostEnd);
        }
        const rest = target.slice(abs[0].length);
        target = rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
      } else if (!(target === '*' && h.method === 'OPTIONS')) {
        return this.badRequest(400, 'a request target that is not a path');
      }
    }
    if (!validHost(hostValue)) return this.badRequest(400, 'a malformed Host');
    this.host = hostname(hostValue);
    const q = target.indexOf('?');
    this.path = q < 0 ? target : target.slice(0, q);

    const m = this.core.table.resolve(this.host, this.path);
    if (m === null) {
      return this.answer(404, 'unknown_host', 'No such app', `No app is served at ${this.host || 'this address'}. Check the address, or add the domain to an app.`);
    }
    this.app = m.app;
    if (m.app.httpsRedirect && this.proto === 'http') {
      const p = this.core.httpsPort;
      const location = `https://${this.host}${p === null || p === 443 ? '' : `:${p}`}${target}`;
      return this.answer(308, 'https_redirect', 'Moved to HTTPS', `This app is served over HTTPS: ${location}`, location);
    }
    if (m.app.maintenance) {
      return this.answer(503, 'maintenance', 'Down for maintenance', `${m.app.name} is down for maintenance and will be back soon.`);
    }
    this.appPool = m.pool;

    // The body bytes that came with the head go with it; the rest of buf is the next request.
    if (!this.reqDone && this.buf !== null) {
      const b = this.buf;
      const n = this.takeBody(b);
      if (n < 0) return this.badRequest(400, 'malformed chunked framing');
      this.held = owned(n === b.length ? b : b.subarray(0, n)); // kept for a retry
      this.buf = n === b.length ? null : b.subarray(n);
      this.bytesIn += n;
    }
    this.heldAll = this.reqDone;
    this.fwdHead = forwardRequestHead(src, h, { clientIp: this.ip, proto: this.proto, port: this.port, requestId: this.requestId, target, host: rewriteHost, upgrade: this.upgrade, now: this.wallStart });
    this.connectNext();
  }

  /** How many bytes at the start of `b` belong to the request body; -1 on bad chunk framing. */
  private takeBody(b: Buffer): number {
    if (this.reqChunk !== null) {
      const end = this.reqChunk.scan(b, 0);
      if (end < 0) return -1;
      if (this.reqChunk.done) this.reqDone = true;
      return end;
    }
    const n = this.reqLeft < b.length ? this.reqLeft : b.length;
    this.reqLeft -= n;
    if (this.reqLeft === 0) this.reqDone = true;
    return n;
  }

  /** Picks a backend and gets a connection to it (an idle one sends at once). */
  private connectNext(): void {
    this.state = CONNECTING;
    // a retry comes after a failed connect, possibly seconds later: read the clocks again
    const retry = this.attempts > 0;
    const b = this.attempts < MAX_ATTEMPTS ? pickBackend(this.appPool!.backends, retry ? Date.now() : this.wallStart, this.tried) : null;
    if (b === null) {
      if (this.connectError === 'timeout') return this.answer(504, 'timeout', 'Gateway Timeout', `${this.app!.name} did not accept a connection within ${this.core.connectMs} ms.`);
      if (this.connectError !== null) return this.answer(502, 'connect_failed', 'Bad Gateway', `The router could not connect to ${this.app!.name} (${this.connectError}).`);
      return this.answer(503, 'no_backend', 'No backend', `${this.app!.name} has no running web process that can take this request right now.`);
    }
    this.attempts++;
    b.inflight++;
    this.backend = b;
    this.backendId = b.id;
    const c = this.core.pool.acquire(b, this);
    this.conn = c;
    if (c.connected) this.send(c, retry ? performance.now() : this.lastActive);
  }

  onBackendConnect(c: BackendConn): void {
    if (c !== this.conn) return;
    this.backend!.failures = 0;
    this.send(c, performance.now());
  }

  /** Writes the head (and the body bytes held with it) to a connected backend; `now` is performance.now(). */
  private send(c: BackendConn, now: number): void {
    this.resMode = RES_HEAD;
    this.resBuf = null;
    this.resStarted = false;
    this.resDone = false;
    this.connReusable = true;
    this.sentAt = now;
    const s = c.sock;
    if (this.held !== null) {
      s.cork();
      s.write(this.fwdHead!);
      s.write(this.held);
      s.uncork();
    } else s.write(this.fwdHead!);
    if (this.reqDone) {
      this.state = AWAIT;
      return;
    }
    this.state = BODY;
    const b = this.buf;
    this.buf = null;
    if (b !== null) this.relayBody(b);
    if (this.state === BODY) this.resume();
  }

  private relayBody(chunk: Buffer): void {
    const n = this.takeBody(chunk);
    if (n < 0) {
      this.conn?.discard();
      this.conn = null;
      this.releaseBackend(false);
      if (!this.resStarted) return this.badRequest(400, 'malformed chunked framing');
      this.sock.destroy();
      return;
    }
    if (n < chunk.length) this.buf = chunk.subarray(n);
    if (n > 0) {
      this.bytesIn += n;
      this.heldAll = false;
      this.sentAt = this.lastActive; // read when this chunk arrived
      // a write the kernel does not take at once keeps its buffer: never a view of the shared one
      if (!this.conn!.sock.write(owned(n === chunk.length ? chunk : chunk.subarray(0, n)))) this.pause();
    }
    if (this.reqDone) {
      this.state = AWAIT;
      if (this.resDone) this.finish();
    }
  }

  // ---- responses ----

  onBackendDrain(): void {
    this.resume();
  }

  onBackendData(chunk: Buffer): void {
    this.lastActive = performance.now();
    if (this.state === TUNNEL) {
      this.bytesOut += chunk.length;
      if (!this.sock.write(Buffer.from(chunk))) this.conn!.pause();
      return;
    }
    if (this.resMode !== RES_HEAD) return this.relayResponse(chunk);
    // chunk lives in the shared read buffer: a partial head is copied before it is kept
    // (a concatenation is a copy already, and so are its subarrays)
    const owned = this.resBuf !== null;
    let buf = owned ? Buffer.concat([this.resBuf!, chunk]) : chunk;
    for (;;) {
      const end = headEnd(buf);
      if (end < 0) {
        if (buf.length > MAX_RESPONSE_HEAD) return this.badGateway('a response head larger than 64 KiB');
        this.resBuf = owned ? buf : Buffer.from(buf);
        return;
      }
      let h: ResponseHead;
      try {
        h = parseResponseHead(buf, end);
      } catch (err) {
        if (err instanceof HeadError) return this.badGateway(err.reason);
        throw err;
      }
      const rest = end < buf.length ? buf.subarray(end) : null;
      this.resBuf = null;
      if (h.status >= 200) return this.startResponse(h, buf, rest);
      if (h.status === 101) {
        if (this.upgrade) return this.startTunnel(h, buf, rest);
        return this.badGateway('a 101 answer to a request that asked for no upgrade');
      }
      // 1xx (100 Continue, 103 Early Hints): pass on to HTTP/1.1 clients, then read on.
      if (this.req!.minor === 1) {
        this.sock.write(Buffer.from(buf.subarray(0, end)));
        this.bytesOut += end;
      }
      if (rest === null) return;
      buf = rest;
    }
  }

  /** `src` holds the head from its first byte; `rest` is what followed it. */
  private startResponse(h: ResponseHead, src: Buffer, rest: Buffer | null): void {
    const req = this.req!;
    this.status = h.status;
    if (req.method === 'HEAD' || h.status === 204 || h.status === 304) this.resMode = RES_NONE;
    else if (h.chunked) {
      this.resMode = RES_CHUNKED;
      this.resChunk = new ChunkScanner();
    } else if (h.contentLength >= 0) {
      this.resMode = RES_LENGTH;
      this.resLeft = h.contentLength;
    } else this.resMode = RES_CLOSE;
    // Leave a second's margin (or a quarter) so we never send on a connection as it closes.
    this.connMaxIdle = h.keepAliveMs < 0 ? Infinity : h.keepAliveMs - Math.min(1000, h.keepAliveMs / 4);
    this.connReusable = this.resMode !== RES_CLOSE && (h.minor === 1 ? !hasToken(h.connection, 'close') : hasToken(h.connection, 'keep-alive'));
    this.reframe = false;
    if (this.resMode === RES_CLOSE) {
      // A body that ends when the backend closes: an HTTP/1.1 client gets it re-framed as chunked
      // and keeps its connection; an HTTP/1.0 client reads until we close.
      if (req.minor === 1 && this.keepAlive) {
        this.reframe = true;
        h.chunked = true;
        h.transferEncoding = 'chunked';
      } else this.keepAlive = false;
    }
    if (this.core.closing) this.keepAlive = false;
    const close = !this.keepAlive;
    const keepAlive10 = req.minor === 0 && this.keepAlive;
    this.resStarted = true;
    if (this.resMode === RES_NONE || (this.resMode === RES_LENGTH && this.resLeft === 0)) {
      if (rest !== null) this.connReusable = false;
      const head = responseHead(src, h, close, keepAlive10, false, 0);
      this.bytesOut += head.length;
      this.sock.write(head);
      return this.responseDone();
    }
    if (rest === null) {
      const head = responseHead(src, h, close, keepAlive10, false, 0);
      this.bytesOut += head.length;
      if (!this.sock.write(head)) this.conn!.pause();
      return;
    }
    if (this.resMode === RES_LENGTH && rest.length <= this.resLeft && rest.length <= SMALL_BODY) {
      // The common small response: head and body in one buffer, one write.
      const out = responseHead(src, h, close, keepAlive10, false, rest.length);
      rest.copy(out, out.length - rest.length);
      this.resLeft -= rest.length;
      this.bytesOut += out.length;
      const ok = this.sock.write(out);
      if (this.resLeft === 0) return this.responseDone();
      if (!ok) this.conn!.pause();
      return;
    }
    const head = responseHead(src, h, close, keepAlive10, false, 0);
    this.bytesOut += head.length;
    this.sock.cork();
    this.sock.write(head);
    this.relayResponse(rest);
    this.sock.uncork();
  }

  private relayResponse(chunk: Buffer): void {
    let n: number;
    if (this.resMode === RES_LENGTH) {
      n = this.resLeft < chunk.length ? this.resLeft : chunk.length;
      this.resLeft -= n;
    } else if (this.resMode === RES_CHUNKED) {
      n = this.resChunk!.scan(chunk, 0);
      if (n < 0) return this.brokenResponse('malformed chunked framing');
    } else {
      n = chunk.length;
      if (this.reframe) {
        const size = `${n.toString(16)}\r\n`;
        this.bytesOut += size.length + 2;
        this.sock.cork();
        this.sock.write(size, 'latin1');
        this.sock.write(Buffer.from(chunk));
        const ok = this.sock.write('\r\n', 'latin1');
        this.sock.uncork();
        this.bytesOut += n;
        if (!ok) this.conn!.pause();
        return;
      }
    }
    if (n < chunk.length) this.connReusable = false; // bytes past the response: out of step
    this.bytesOut += n;
    const ok = this.sock.write(Buffer.from(n === chunk.length ? chunk : chunk.subarray(0, n)));
    if ((this.resMode === RES_LENGTH && this.resLeft === 0) || (this.resMode === RES_CHUNKED && this.resChunk!.done)) return this.responseDone();
    if (!ok) this.conn!.pause();
  }

  private responseDone(): void {
    this.resDone = true;
    if (this.reqDone) this.finish();
    else {
      // The backend answered before the request body ended: this connection cannot carry
      // another exchange, and the client's unread body means its connection closes too.
      this.keepAlive = false;
      this.connReusable = false;
      this.finish();
    }
  }

  /** Ends one exchange: the backend connection goes back to the pool, the next request may start. */
  private finish(): void {
    const c = this.conn;
    this.conn = null;
    if (c !== null) {
      if (this.connReusable && this.reqDone && !this.core.closing) this.core.pool.release(c, this.connMaxIdle);
      else c.discard();
    }
    this.releaseBackend(true);
    this.record(this.lastActive);
    this.req = null;
    this.held = null;
    // an idle keep-alive connection should hold as little as possible
    this.fwdHead = null;
    this.requestId = '';
    this.host = '';
    this.path = '';
    if (!this.keepAlive || this.core.closing) {
      this.state = CLOSED;
      this.sock.end();
      return;
    }
    this.state = HEAD;
    this.resume();
    if (this.buf !== null) {
      this.headStart = performance.now();
      this.readRequests();
    } else if (this.ended) this.sock.end();
  }

  onBackendClose(c: BackendConn): void {
    if (c !== this.conn) return;
    this.conn = null;
    if (this.state === TUNNEL) {
      this.releaseBackend(true);
      this.sock.end();
      return;
    }
    if (!c.connected) {
      // Refused, unreachable or too slow: eject the backend for a while and try another.
      const b = this.backend!;
      b.failures++;
      b.ejectedUntil = Date.now() + this.core.ejectMs;
      this.connectError = c.timedOut ? 'timeout' : (c.error?.code ?? 'connection closed');
      if (this.core.log.isLevelEnabled('warn')) this.core.log.warn({ app: this.app?.name, backend: b.id, cause: this.connectError }, 'backend connect failed; ejected');
      (this.tried ??= []).push(b);
      this.releaseBackend(false);
      return this.connectNext();
    }
    if (this.resMode === RES_HEAD) {
      const method = this.req!.method;
      this.releaseBackend(false);
      // A keep-alive connection the backend closed as we reused it: send again when safe.
      if (c.reused && this.heldAll && idempotent(method) && this.state !== CLOSED) return this.connectNext();
      const why = c.error?.code === 'ECONNRESET' ? 'reset the connection' : 'closed the connection';
      return this.answer(502, 'bad_response', 'Bad Gateway', `${this.app!.name} ${why} without answering.`);
    }
    if (this.resMode === RES_CLOSE) {
      this.connReusable = false;
      if (this.reframe) {
        this.sock.write('0\r\n\r\n', 'latin1');
        this.bytesOut += 5;
      }
      return this.responseDone();
    }
    if (this.resMode !== RES_NONE) this.brokenResponse('the backend closed the connection in the middle of the response');
  }

  private startTunnel(h: ResponseHead, src: Buffer, rest: Buffer | null): void {
    this.state = TUNNEL;
    this.status = 101;
    this.resStarted = true;
    this.core.metrics.upgraded++;
    const head = responseHead(src, h, false, false, true, 0);
    this.bytesOut += head.length;
    this.sock.write(head);
    if (rest !== null) {
      this.bytesOut += rest.length;
      this.sock.write(Buffer.from(rest));
    }
    const early = this.buf;
    this.buf = null;
    if (early !== null) {
      this.bytesIn += early.length;
      this.conn!.sock.write(early);
    }
    if (this.ended) this.conn!.sock.end();
    this.resume();
  }

  // ---- answers the router makes itself ----

  private badGateway(why: string): void {
    this.conn?.discard();
    this.conn = null;
    this.releaseBackend(false);
    if (this.core.log.isLevelEnabled('warn')) this.core.log.warn({ app: this.app?.name, why }, 'bad response from backend');
    this.answer(502, 'bad_response', 'Bad Gateway', `${this.app?.name ?? 'The app'} sent a response the router could not read: ${why}.`);
  }

  /** The response broke after its head was sent: all the client can learn is a closed connection. */
  private brokenResponse(why: string): void {
    this.conn?.discard();
    this.conn = null;
    this.releaseBackend(false);
    this.error = 'bad_response';
    if (this.core.log.isLevelEnabled('warn')) this.core.log.warn({ app: this.app?.name, why }, 'response cut short');
    this.record();
    this.state = CLOSED;
    this.sock.destroy();
  }

  private answer(status: number, code: string, title: string, text: string, location?: string): void {
    if (this.resStarted) {
      this.error = code;
      this.record();
      this.state = CLOSED;
      this.sock.destroy();
      return;
    }
    const close = !this.keepAlive || !this.reqDone || this.core.closing || status === 400 || status === 431;
    const body = page(status, title, text, { close, requestId: this.requestId, location, head: this.req?.method === 'HEAD' });
    this.status = status;
    this.error = code === 'https_redirect' ? undefined : code;
    this.bytesOut = body.length;
    this.sock.write(body);
    this.record();
    this.req = null;
    if (close) {
      this.state = CLOSED;
      this.buf = null;
      this.sock.end();
      // a client that keeps sending after a refusal would hold the socket half-open
      this.sock.once('finish', () => this.sock.destroySoon());
    } else {
      // ready for the next request: one may be waiting already (pipelined), or the client left
      this.state = HEAD;
      this.resume();
      if (this.buf !== null) {
        this.headStart = performance.now();
        this.readRequests();
      } else if (this.ended) this.sock.end();
    }
  }

  private releaseBackend(ok: boolean): void {
    const b = this.backend;
    if (b === null) return;
    this.backend = null;
    b.inflight--;
    if (ok) b.failures = 0;
  }

  /** `end`: performance.now() when the exchange ended (finish passes the clock its event read). */
  private record(end = performance.now()): void {
    if (this.recorded) return;
    this.recorded = true;
    const ms = end - this.start;
    const app = this.app === null ? null : this.app.name;
    this.core.metrics.record(app, this.status, ms / 1000, this.error);
    const on = this.core.onAccess;
    if (on !== undefined) {
      on({
        time: new Date(Date.now() - ms).toISOString(),
        app,
        method: this.req?.method ?? '',
        host: this.host,
        path: this.path,
        status: this.status,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        durationMs: Math.round(ms * 1000) / 1000,
        backend: this.backendId,
        requestId: this.requestId,
        ...(this.error === undefined ? {} : { error: this.error }),
      });
    }
  }

  // ---- timeouts and shutdown (called by the proxy's sweep) ----

  sweep(now: number): void {
    const idle = now - this.lastActive;
    switch (this.state) {
      case HEAD:
        // A head has headMs from its first byte, however slowly it trickles in (slowloris);
        // between requests, an idle keep-alive connection has idleMs.
        if (this.buf !== null) {
          if (now - this.headStart > this.core.headMs) this.badRequest(408, `the request head did not arrive within ${this.core.headMs / 1000} s`, 'head_timeout');
        } else if (idle > this.core.idleMs) this.sock.destroy();
        return;
      case BODY:
      case AWAIT:
        if (this.state === AWAIT && this.resMode === RES_HEAD) {
          // waiting for the answer: the first-byte timeout applies, not the idle one
          if (this.conn !== null && this.conn.connected && now - this.sentAt > this.core.firstByteMs) {
            this.conn.discard();
            this.conn = null;
            this.releaseBackend(false);
            this.answer(504, 'timeout', 'Gateway Timeout', `${this.app!.name} did not answer within ${this.core.firstByteMs / 1000} s.`);
          }
          return;
        }
        if (idle > this.core.idleMs) this.destroy(); // a transfer that stalled
        return;
      case TUNNEL:
        if (idle > this.core.idleMs) this.destroy();
    }
  }

  /** During close(): an idle keep-alive connection closes now, a busy one after its response. */
  closeIfIdle(): void {
    if (this.state === HEAD && this.buf === null) this.sock.end();
  }

  destroy(): void {
    this.conn?.discard();
    this.conn = null;
    this.sock.destroy();
  }
}
