// "A time or a duration before now", as the agent's image prune (`until`), the logs API
// (`since`) and the CLI (`--age`) take it: one parser, each caller choosing its units and forms.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export type DurationUnit = keyof typeof UNIT_MS;

export interface DurationOptions {
  /** The suffixes accepted (default ms, s, m, h, d; Go's durations stop at h). */
  units?: readonly DurationUnit[];
  /** The unit of a bare number (none: a bare number is no duration). */
  bare?: DurationUnit;
  /** Whole numbers only (no `1.5h`). */
  integer?: boolean;
}

const ALL_UNITS = Object.keys(UNIT_MS) as DurationUnit[];
const NUMBER_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const INTEGER_RE = /^(\d+)(ms|s|m|h|d)?$/;

/** `10m`, `1.5h` (and a bare number in `bare`'s unit) → milliseconds; null when it is no such duration. */
export function durationMs(v: string, o: DurationOptions = {}): number | null {
  const m = (o.integer ? INTEGER_RE : NUMBER_RE).exec(v);
  if (!m) return null;
  if (m[2] && !(o.units ?? ALL_UNITS).includes(m[2] as DurationUnit)) return null;
  const unit = (m[2] as DurationUnit | undefined) ?? o.bare;
  return unit ? Number(m[1]) * UNIT_MS[unit] : null;
}

export interface TimeOptions {
  /** Duration suffixes accepted (see DurationOptions.units). */
  units?: readonly DurationUnit[];
  /** What a Unix time in seconds looks like (default: any decimal number). */
  unix?: RegExp;
  now?: number;
}

/** A duration before `now`, Unix seconds, or anything Date.parse reads (RFC 3339) → ms since the epoch; null when none of these. */
export function timeOrDurationMs(v: string, o: TimeOptions = {}): number | null {
  const d = durationMs(v, { units: o.units ?? ALL_UNITS });
  if (d !== null) return (o.now ?? Date.now()) - d;
  if ((o.unix ?? /^\d+(\.\d+)?$/).test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}
