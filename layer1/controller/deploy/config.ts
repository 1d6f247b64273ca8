// Pure checks of what users send: config changes (names, sizes, reserved names), scale requests
// (counts, memory like `512M`, cpu) and their merge into the app's formation.
import { envBytes } from '../../../layer0/common/settings.ts';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import {
  CONFIG_NAME_RE,
  CONFIG_VALUE_MAX_BYTES,
  DEFAULT_MEMORY,
  MEMORY_MAX,
  MEMORY_MIN,
  ScaleSchema,
  type AppFormation,
  type Config,
  type ConfigChanges,
  type FormationEntry,
} from './types.ts';

const RESERVED_RE = /^(PORT|SLIPWAY_.*)$/;
const MAX_VARS = 1000;

/** Throws `invalid_params` naming every bad entry; returns the changes as given. */
export function validateConfigChanges(changes: unknown): ConfigChanges {
  if (!changes || typeof changes !== 'object' || Array.isArray(changes)) throw new SlipwayError('invalid_params', 'config: expected an object of name → string (or null to unset)');
  const entries = Object.entries(changes as Record<string, unknown>);
  if (entries.length === 0) throw new SlipwayError('invalid_params', 'config: no changes');
  if (entries.length > MAX_VARS) throw new SlipwayError('invalid_params', `config: at most ${MAX_VARS} changes at once`);
  const problems: string[] = [];
  for (const [name, value] of entries) {
    if (!CONFIG_NAME_RE.test(name)) problems.push(`${JSON.stringify(name.slice(0, 100))}: names are letters, digits and "_", not starting with a digit`);
    else if (RESERVED_RE.test(name)) problems.push(`${name}: reserved (PORT and SLIPWAY_* are set by the platform)`);
    else if (value !== null && typeof value !== 'string') problems.push(`${name}: the value must be a string, or null to unset`);
    else if (typeof value === 'string' && Buffer.byteLength(value) > CONFIG_VALUE_MAX_BYTES) problems.push(`${name}: the value is over 32 KiB`);
    else if (typeof value === 'string' && value.includes('\0')) problems.push(`${name}: the value contains a NUL byte`);
  }
  if (problems.length) throw new SlipwayError('invalid_params', `config: ${problems.join('; ')}`);
  return changes as ConfigChanges;
}

/** SLIPWAY_CONFIG_MAX_BYTES (default 256 KiB): an app's whole config (names and values); every release keeps a copy. */
export function configMaxBytes(env: NodeJS.ProcessEnv = process.env): number {
  return envBytes(env, 'SLIPWAY_CONFIG_MAX_BYTES', 256 * 1024, { min: 32 * 1024 });
}

/** Refuses (413) a config over `max` bytes of names and values. */
export function checkConfigSize(config: Config, max: number): void {
  let n = 0;
  for (const [k, v] of Object.entries(config)) n += k.length + Buffer.byteLength(v);
  if (n > max) throw new SlipwayError('payload_too_large', `config: ${n} bytes of names and values, over the ${max} an app may have (the platform's SLIPWAY_CONFIG_MAX_BYTES); unset some first`);
}

/** The config after `changes` (null unsets). */
export function applyConfigChanges(config: Config, changes: ConfigChanges): Config {
  const out = { ...config };
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** `512M`, `1G`, `1.5G`, `256MB`, `512Mi` (binary units), or a number of bytes → bytes. */
export function parseMemory(v: string | number): number {
  let bytes: number;
  if (typeof v === 'number') bytes = v;
  else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B?)?\s*$/i.exec(v);
    if (!m) throw new SlipwayError('invalid_params', `memory: ${JSON.stringify(v.slice(0, 40))} is not a size like 512M or 1G`);
    bytes = Math.round(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
  }
  if (!Number.isFinite(bytes) || bytes < MEMORY_MIN || bytes > MEMORY_MAX) throw new SlipwayError('invalid_params', `memory: must be between 16M and 64G`);
  return bytes;
}

/** Bytes → the shortest exact `NNNK|M|G`. */
export function formatMemory(bytes: number): string {
  for (const u of ['G', 'M', 'K'] as const) if (bytes % UNITS[u]! === 0) return `${bytes / UNITS[u]!}${u}`;
  return String(bytes);
}

/** The formation entry of a type the app never scaled: web runs one process, others none (as on Heroku). */
export function defaultEntry(type: string): FormationEntry {
  return { count: type === 'web' ? 1 : 0, memory: DEFAULT_MEMORY, cpu: 0 };
}

/** Validates a scale request and returns the changed entries merged over the current ones. */
export function applyScale(current: AppFormation, request: unknown): AppFormation {
  const parsed = ScaleSchema.safeParse(request);
  if (!parsed.success) throw new SlipwayError('invalid_params', `formation: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
  if (Object.keys(parsed.data).length === 0) throw new SlipwayError('invalid_params', 'formation: no changes');
  const out: AppFormation = {};
  for (const [type, change] of Object.entries(parsed.data)) {
    const base = current[type] ?? defaultEntry(type);
    if (typeof change === 'number') out[type] = { ...base, count: change };
    else {
      const health = change.health === undefined ? base.health : (change.health ?? undefined);
      out[type] = {
        count: change.count ?? base.count,
        memory: change.memory === undefined ? base.memory : formatMemory(parseMemory(change.memory)),
        cpu: change.cpu ?? base.cpu,
        ...(health ? { health } : {}),
      };
    }
  }
  return out;
}
