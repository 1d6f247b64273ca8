// Finds where a chunked body ends without decoding it: the proxy forwards chunked bytes as they
// came and only needs the framing (RFC 9112 §7.1). Strict, because a lenient chunk parser is how
// request smuggling gets through: hex sizes only (no sign, no spaces, at most 13 digits), CRLF
// everywhere (a bare LF is an error), no control characters in extensions or trailers.

const SIZE = 0;
const EXT = 1;
const SIZE_LF = 2;
const DATA = 3;
const DATA_CR = 4;
const DATA_LF = 5;
const TRAILER_START = 6;
const TRAILER_LINE = 7;
const TRAILER_LF = 8;
const END_LF = 9;
const DONE = 10;

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

export class ChunkScanner {
  private state = SIZE;
  private left = 0;
  private digits = 0;

  get done(): boolean {
    return this.state === DONE;
  }

  /**
   * Reads buf[from..]. Returns the index just past the body's last byte when the body ends in
   * this buffer, buf.length when it needs more, or -1 when the framing is bad.
   */
  scan(buf: Buffer, from = 0): number {
    let i = from;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case SIZE: {
          const c = buf[i];
          const v = hex(c);
          if (v >= 0) {
            if (++this.digits > 13) return -1;
            this.left = this.left * 16 + v;
          } else if (this.digits === 0) return -1;
          else if (c === 59 /* ; */) this.state = EXT;
          else if (c === 13) this.state = SIZE_LF;
          else return -1;
          i++;
          break;
        }
        case EXT: {
          const c = buf[i];
          if (c === 13) this.state = SIZE_LF;
          else if ((c < 32 && c !== 9) || c === 127) return -1;
          i++;
          break;
        }
        case SIZE_LF:
          if (buf[i] !== 10) return -1;
          i++;
          this.digits = 0;
          this.state = this.left === 0 ? TRAILER_START : DATA;
          break;
        case DATA: {
          const take = Math.min(this.left, n - i);
          i += take;
          this.left -= take;
          if (this.left === 0) this.state = DATA_CR;
          break;
        }
        case DATA_CR:
          if (buf[i] !== 13) return -1;
          i++;
          this.state = DATA_LF;
          break;
        case DATA_LF:
          if (buf[i] !== 10) return -1;
          i++;
          this.state = SIZE;
          break;
        case TRAILER_START:
          if (buf[i] === 13) {
            i++;
            this.state = END_LF;
          } else this.state = TRAILER_LINE;
          break;
        case TRAILER_LINE: {
          const c = buf[i];
          if (c === 13) this.state = TRAILER_LF;
          else if ((c < 32 && c !== 9) || c === 127) return -1;
          i++;
          break;
        }
        case TRAILER_LF:
          if (buf[i] !== 10) return -1;
          i++;
          this.state = TRAILER_START;
          break;
        case END_LF:
          if (buf[i] !== 10) return -1;
          this.state = DONE;
          return i + 1;
        default:
          return i; // DONE: nothing more belongs to this body
      }
    }
    return n;
  }
}
