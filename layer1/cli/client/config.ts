// Where the CLI finds the platform and its token (DESIGN.md "CLI config"): SLIPWAY_URL and
// SLIPWAY_TOKEN; else ~/.config/slipway/config.json written by `slipway login`; else, for root
// on the platform's host, $SLIPWAY_HOME/admin-token.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const DEFAULT_URL = 'http://127.0.0.1:7000';

export interface CliConfig {
  url: string;
  token: string | null;
  /** Where the token came from, for `whoami` and error messages. */
  source: 'env' | 'config' | 'admin-token' | 'none';
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'slipway', 'config.json');
}

function readSaved(env: NodeJS.ProcessEnv): { url?: string; token?: string } {
  try {
    return JSON.parse(readFileSync(configPath(env), 'utf8')) as { url?: string; token?: string };
  } catch {
    return {};
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const saved = readSaved(env);
  const url = (env.SLIPWAY_URL || saved.url || DEFAULT_URL).replace(/\/+$/, '');
  if (env.SLIPWAY_TOKEN) return { url, token: env.SLIPWAY_TOKEN, source: 'env' };
  if (saved.token) return { url, token: saved.token, source: 'config' };
  const adminFile = join(env.SLIPWAY_HOME || '/var/lib/slipway', 'admin-token');
  if (process.getuid?.() === 0 && existsSync(adminFile)) {
    return { url, token: readFileSync(adminFile, 'utf8').trim(), source: 'admin-token' };
  }
  return { url, token: null, source: 'none' };
}

/** Written 0600 through a temp file, so a token never sits in a world-readable file. */
export function saveConfig(cfg: { url: string; token: string }, env: NodeJS.ProcessEnv = process.env): string {
  const file = configPath(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ url: cfg.url, token: cfg.token }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(`${file}.tmp`, 0o600);
  renameSync(`${file}.tmp`, file);
  return file;
}

export function forgetConfig(env: NodeJS.ProcessEnv = process.env): boolean {
  const file = configPath(env);
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}
