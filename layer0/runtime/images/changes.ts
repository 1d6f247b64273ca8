// Dockerfile-like `changes` of `docker import --change` / `docker commit --change`:
// parsed and applied onto an ImageConfig. Called by the image store; bad input → invalid_params.
import { constants } from 'node:os';
import { posix } from 'node:path';
import { SlipwayError } from '../../common/errors.ts';
import type { ImageConfig } from '../types.ts';

export const SUPPORTED_CHANGES = ['CMD', 'ENTRYPOINT', 'ENV', 'WORKDIR', 'USER', 'EXPOSE', 'LABEL', 'STOPSIGNAL'] as const;

function bad(change: string, why: string): SlipwayError {
  return new SlipwayError('invalid_params', `invalid change ${JSON.stringify(change)}: ${why}`);
}

/** Splits on unquoted whitespace; removes quotes and backslash escapes (Docker's word rules). */
export function splitWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += c;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      inWord = true;
      if (c === '"' || c === "'") quote = c;
      else if (c === '\\' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    }
  }
  if (quote) throw new SlipwayError('invalid_params', `unterminated quote in ${JSON.stringify(s)}`);
  if (inWord) words.push(cur);
  return words;
}

/** Exec form (`["a","b"]`) or shell form (`a b` → `/bin/sh -c "a b"`), like Docker. */
function parseCommand(change: string, rest: string): string[] {
  if (rest.startsWith('[')) {
    try {
      const v: unknown = JSON.parse(rest);
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    } catch {
      // Docker falls back to the shell form when the JSON does not parse.
    }
  }
  if (rest === '') throw bad(change, 'missing command');
  return ['/bin/sh', '-c', rest];
}

/** `K=V K2="v 2"` or the legacy single pair `K some value`. */
function parsePairs(change: string, rest: string): Array<[string, string]> {
  const first = rest.split(/\s+/, 1)[0] ?? '';
  if (!first.includes('=')) {
    const value = rest.slice(first.length).trim();
    if (first === '' || value === '') throw bad(change, 'expected KEY=VALUE or KEY VALUE');
    return [[splitWords(first)[0] ?? first, splitWords(value).join(' ')]];
  }
  return splitWords(rest).map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw bad(change, `expected KEY=VALUE, got ${JSON.stringify(w)}`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

function parsePorts(change: string, rest: string): string[] {
  const out: string[] = [];
  for (const w of splitWords(rest)) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
    if (!m) throw bad(change, `bad port ${JSON.stringify(w)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || hi < lo || hi - lo > 1024) throw bad(change, `bad port ${JSON.stringify(w)}`);
    for (let p = lo; p <= hi; p++) out.push(`${p}/${(m[3] ?? 'tcp').toLowerCase()}`);
  }
  if (out.length === 0) throw bad(change, 'missing port');
  return out;
}

function checkSignal(change: string, sig: string): string {
  if (/^\d+$/.test(sig) && Number(sig) >= 1 && Number(sig) <= 64) return sig;
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  if (name in constants.signals || /^SIGRTM(IN|AX)([+-]\d+)?$/.test(name)) return sig;
  throw bad(change, `unknown signal ${JSON.stringify(sig)}`);
}

/** Returns a new config with `changes` applied in order; `base` is not modified. */
export function applyChanges(base: ImageConfig, changes: readonly string[] = []): ImageConfig {
  const cfg: ImageConfig = structuredClone(base);
  let cmdSet = false;
  let entrypointSet = false;
  for (const raw of changes) {
    if (typeof raw !== 'string') throw new SlipwayError('invalid_params', 'changes must be strings');
    const change = raw.trim();
    const m = /^([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(change);
    if (!m) throw bad(raw, 'expected INSTRUCTION arguments');
    const op = m[1].toUpperCase();
    const rest = (m[2] ?? '').trim();
    if (rest === '' && op !== 'CMD' && op !== 'ENTRYPOINT') throw bad(raw, 'missing arguments');
    switch (op) {
      case 'CMD':
        cfg.Cmd = parseCommand(raw, rest);
        cmdSet = true;
        break;
      case 'ENTRYPOINT':
        cfg.Entrypoint = parseCommand(raw, rest);
        entrypointSet = true;
        break;
      case 'ENV':
        for (const [k, v] of parsePairs(raw, rest)) {
          cfg.Env = cfg.Env.filter((e) => e.split('=', 1)[0] !== k);
          cfg.Env.push(`${k}=${v}`);
        }
        break;
      case 'LABEL':
        for (const [k, v] of parsePairs(raw, rest)) cfg.Labels[k] = v;
        break;
      case 'WORKDIR': {
        const dir = splitWords(rest).join(' ');
        cfg.WorkingDir = posix.resolve('/', cfg.WorkingDir || '/', dir);
        break;
      }
      case 'USER': {
        const words = splitWords(rest);
        if (words.length !== 1 || !/^[^\s:]+(:[^\s:]+)?$/.test(words[0])) throw bad(raw, 'expected user[:group]');
        cfg.User = words[0];
        break;
      }
      case 'EXPOSE':
        for (const p of parsePorts(raw, rest)) cfg.ExposedPorts[p] = {};
        break;
      case 'STOPSIGNAL':
        cfg.StopSignal = checkSignal(raw, rest);
        break;
      default:
        throw bad(raw, `unsupported instruction ${op} (supported: ${SUPPORTED_CHANGES.join(', ')})`);
    }
  }
  // Dockerfile rule: a new ENTRYPOINT resets an inherited CMD.
  if (entrypointSet && !cmdSet) cfg.Cmd = null;
  return cfg;
}
