// Docker's stream framing for attach, logs and exec: an 8-byte header [type,0,0,0,size BE32]
// before each payload when the container has no TTY; raw bytes when it has one.
import type { Writable } from 'node:stream';

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
/** The CLI's stdcopy turns a type-3 frame into an error: the only way to fail after the headers. */
export const SYSTEMERR = 3;

export const MULTIPLEXED = 'application/vnd.docker.multiplexed-stream';
export const RAW_STREAM = 'application/vnd.docker.raw-stream';

export function frameHeader(type: number, size: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = type;
  h.writeUInt32BE(size, 4);
  return h;
}

export function frame(type: number, payload: Buffer): Buffer {
  return Buffer.concat([frameHeader(type, payload.length), payload]);
}

export type StreamName = 'stdout' | 'stderr';

/** Writes container output to a socket or a response, framed unless `tty`. */
export class OutputWriter {
  constructor(private readonly out: Writable, private readonly tty: boolean) {}

  /** False when the destination is saturated: the caller waits for 'drain'. */
  write(stream: StreamName, data: Buffer): boolean {
    if (data.length === 0 || this.out.destroyed) return true;
    if (this.tty) return this.out.write(data);
    // Two writes instead of a concat: no copy of large payloads (Node corks nothing here, but
    // both go out in one TCP segment when small because the socket has noDelay off).
    this.out.write(frameHeader(stream === 'stdout' ? STDOUT : STDERR, data.length));
    return this.out.write(data);
  }

  /** Reports an error in-band, after the 200/101 headers have gone. */
  error(message: string): void {
    if (this.out.destroyed) return;
    this.out.write(this.tty ? Buffer.from(`${message}\n`) : frame(SYSTEMERR, Buffer.from(`${message}\n`)));
  }

  /** Resolves when the destination can take more (or is gone). */
  drain(): Promise<void> {
    if (this.out.destroyed || !this.out.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('close', done);
        resolve();
      };
      this.out.on('drain', done);
      this.out.on('close', done);
    });
  }
}

export interface Frame {
  type: number;
  data: Buffer;
}

/** Reads a framed stream back into whole frames, chunk by chunk (a frame split across reads waits for its rest): the client's one parser. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Frame[] = [];
    let i = 0;
    while (i + 8 <= buf.length) {
      const size = buf.readUInt32BE(i + 4);
      if (i + 8 + size > buf.length) break;
      out.push({ type: buf[i]!, data: buf.subarray(i + 8, i + 8 + size) });
      i += 8 + size;
    }
    this.pending = buf.subarray(i);
    return out;
  }
}

/** The whole frames of a framed buffer. */
export function demux(buf: Buffer): Frame[] {
  return new FrameReader().push(buf);
}
