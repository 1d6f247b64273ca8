// How the CLI talks to people: colour only on a TTY (and never with NO_COLOR), aligned tables,
// `--json` for scripts, and errors on stderr.
const tty = () => process.stdout.isTTY === true && !process.env.NO_COLOR;
const wrap = (code: number) => (s: string) => (tty() ? `\x1b[${code}m${s}\x1b[0m` : s);

export const color = {
  bold: wrap(1),
  dim: wrap(2),
  red: wrap(31),
  green: wrap(32),
  yellow: wrap(33),
  cyan: wrap(36),
};

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

/** Columns padded to their widest cell; the header dimmed. */
export function printTable(header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  // eslint-disable-next-line no-control-regex
  const width = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = header.map((_, i) => Math.max(...cells.map((r) => width(r[i] ?? ''))));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c)))).join('  ');
  process.stdout.write(`${color.dim(line(cells[0]!))}\n`);
  for (const r of cells.slice(1)) process.stdout.write(`${line(r)}\n`);
}

export function printKeyValues(pairs: [string, string | number | null | undefined][]): void {
  const w = Math.max(...pairs.map(([k]) => k.length));
  for (const [k, v] of pairs) process.stdout.write(`${color.bold(k.padEnd(w))}  ${v ?? ''}\n`);
}

export function ok(message: string): void {
  process.stdout.write(`${color.green('✓')} ${message}\n`);
}

export function fail(message: string): void {
  process.stderr.write(`${color.red('✗')} ${message}\n`);
}
