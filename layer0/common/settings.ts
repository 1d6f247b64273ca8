// Operator settings from the environment (`SLIPWAY_…`): whole numbers and sizes (`64M`, `1G`),
// with a default and bounds. A bad value stops the start with a message naming the variable,
// rather than running with a limit nobody meant. Used by each component's limits.
import { SlipwayError } from './errors.ts';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const SIZE = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i;

export interface Bounds {
  min?: number;
  max?: number;
}

function bounded(name: string, n: number, b: Bounds): number {
  if (!Number.isFinite(n) || (b.min !== undefined && n < b.min) || (b.max !== undefined && n > b.max)) {
    throw new SlipwayError('invalid_params', `${name}: ${n} is out of range (${b.min ?? '-∞'} … ${b.max ?? '∞'})`);
  }
  return n;
}

/** A whole number setting (`SLIPWAY_MAX_APPS_PER_OWNER=50`); `def` when unset or empty. */
export function envInt(env: NodeJS.ProcessEnv, name: string, def: number, b: Bounds = {}): number {
  const v = env[name]?.trim();
  if (!v) return def;
  if (!/^\d+$/.test(v)) throw new SlipwayError('invalid_params', `${name}: ${JSON.stringify(v.slice(0, 40))} is not a whole number`);
  return bounded(name, Number(v), b);
}

/** `512`, `64K`, `32M`, `1.5G` (binary units; a trailing `B`/`iB` is allowed) → bytes. */
export function parseSize(v: string): number | null {
  const m = SIZE.exec(v);
  return m ? Math.round(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!) : null;
}

/** A size setting (`SLIPWAY_LOG_MAX_BYTES=128M`); `def` when unset or empty. */
export function envBytes(env: NodeJS.ProcessEnv, name: string, def: number, b: Bounds = {}): number {
  const v = env[name]?.trim();
  if (!v) return def;
  const n = parseSize(v);
  if (n === null) throw new SlipwayError('invalid_params', `${name}: ${JSON.stringify(v.slice(0, 40))} is not a size like 64M or 1G`);
  return bounded(name, n, b);
}

/** Bytes as `12.3 MiB` for messages. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}
