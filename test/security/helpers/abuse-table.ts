// The abuse suite's result table: one row per attack (what was tried, what should happen, what
// was seen, pass), the issue-13 finding it guards, printed as a fixed-width table at the end.
import assert from 'node:assert/strict';

export interface AbuseRow {
  /** The issue 13 finding(s) the row guards (C1, H1…H5, M1…M8, L1…L8), or `extra`. */
  finding: string;
  attack: string;
  expected: string;
  seen: string;
  pass: boolean;
}

export class AbuseTable {
  readonly rows: AbuseRow[] = [];

  /** Records `row` and returns it (a caller may still add to its `seen` and clear its `pass`). */
  add(row: AbuseRow): AbuseRow {
    this.rows.push(row);
    return row;
  }

  /** Runs `probe` and records its row; a probe that throws is a failed row whose seen is the error. */
  async try(finding: string, attack: string, expected: string, probe: () => Promise<{ seen: string; pass: boolean }>): Promise<AbuseRow> {
    try {
      const r = await probe();
      return this.add({ finding, attack, expected, ...r });
    } catch (err) {
      return this.add({ finding, attack, expected, seen: `probe failed: ${(err as Error).message}`, pass: false });
    }
  }

  /** Asserts the rows recorded since `from` all passed (one message listing each failure). */
  assertFrom(from: number): void {
    const failed = this.rows.slice(from).filter((r) => !r.pass);
    assert.deepEqual(failed.map((r) => `${r.finding} ${r.attack}: expected ${r.expected}; seen ${r.seen}`), [], `${failed.length} attack(s) not stopped`);
  }

  render(width = 200): string {
    const cols = [
      { name: 'finding', w: 8, get: (r: AbuseRow) => r.finding },
      { name: 'attack', w: 46, get: (r: AbuseRow) => r.attack },
      { name: 'expected', w: 44, get: (r: AbuseRow) => r.expected },
      { name: 'seen', w: Math.max(40, width - 8 - 46 - 44 - 6 - 8), get: (r: AbuseRow) => oneLine(r.seen) },
      { name: 'pass', w: 4, get: (r: AbuseRow) => (r.pass ? 'yes' : 'NO') },
    ];
    const line = (cells: string[][]) => {
      const height = Math.max(...cells.map((c) => c.length));
      const out: string[] = [];
      for (let i = 0; i < height; i++) out.push(cells.map((c, k) => (c[i] ?? '').padEnd(cols[k]!.w)).join(' | ').trimEnd());
      return out.join('\n');
    };
    const sep = cols.map((c) => '-'.repeat(c.w)).join('-+-');
    const body = this.rows.map((r) => line(cols.map((c) => wrap(c.get(r), c.w))));
    const passed = this.rows.filter((r) => r.pass).length;
    return [line(cols.map((c) => [c.name])), sep, body.join(`\n${sep}\n`), sep, `${passed} of ${this.rows.length} attacks stopped`].join('\n');
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').replace(/[\x00-\x1f\x7f]/g, '?').slice(0, 600);
}

function wrap(s: string, w: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const word of s.split(' ')) {
    let wd = word;
    while (wd.length > w) {
      if (cur) {
        out.push(cur);
        cur = '';
      }
      out.push(wd.slice(0, w));
      wd = wd.slice(w);
    }
    if (!cur) cur = wd;
    else if (cur.length + 1 + wd.length <= w) cur += ` ${wd}`;
    else {
      out.push(cur);
      cur = wd;
    }
  }
  if (cur) out.push(cur);
  return out.length ? out : [''];
}
