// A container's output stream (chunks as the agent sends them) cut into lines: a build's log
// (run-build.ts) and a release phase's output (controller/run/run-to-end.ts). UTF-8 is decoded
// across chunks, so a character split between two chunks stays whole.
import { StringDecoder } from 'node:string_decoder';

/** A line with no newline (a progress bar) is cut here rather than grow without bound. */
export const MAX_LINE = 64 * 1024;

const stripCr = (l: string) => (l.endsWith('\r') ? l.slice(0, -1) : l);

/** Splits one stream's chunks into lines (without `\n` or a trailing `\r`); a partial line waits for its end or the stream's. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';

  constructor(private readonly emit: (lines: string[]) => void, private readonly maxLine = MAX_LINE) {}

  push(data: Buffer): void {
    const parts = (this.rest + this.decoder.write(data)).split('\n');
    this.rest = parts.pop()!;
    const lines = parts.map(stripCr);
    if (this.rest.length > this.maxLine) {
      lines.push(this.rest);
      this.rest = '';
    }
    if (lines.length) this.emit(lines);
  }

  /** The stream ended: its last line, when it had no newline. */
  end(): void {
    const last = this.rest + this.decoder.end();
    this.rest = '';
    if (last) this.emit([stripCr(last)]);
  }
}
