// The one module that runs iptables (always `-w`): chains, idempotent rules, and removal of
// everything carrying an instance's comment or chain names, found from iptables-save.
import { run, tryRun } from './exec.ts';
import { chainOwnedBy } from './names.ts';
import type { Rule, Table } from './rules.ts';

const ipt = (table: Table, args: string[]) => tryRun('iptables', ['-w', '-t', table, ...args]);

export async function ensureChain(table: Table, chain: string): Promise<void> {
  if ((await ipt(table, ['-N', chain])).ok) return;
  if (!(await ipt(table, ['-S', chain])).ok) await run('iptables', ['-w', '-t', table, '-N', chain]);
}

export async function ruleExists(r: Rule): Promise<boolean> {
  return (await ipt(r.table, ['-C', r.chain, ...r.args])).ok;
}

/** Appends the rule, or inserts it at `position`, unless an identical one is there. */
export async function ensureRule(r: Rule, position?: number): Promise<void> {
  if (await ruleExists(r)) return;
  const where = position === undefined ? ['-A', r.chain] : ['-I', r.chain, String(position)];
  await run('iptables', ['-w', '-t', r.table, ...where, ...r.args]);
}

/** Deletes every copy of the rule; returns how many went. Missing rule or chain is fine. */
export async function deleteRule(r: Rule): Promise<number> {
  let n = 0;
  while (n < 100 && (await ipt(r.table, ['-D', r.chain, ...r.args])).ok) n++;
  return n;
}

export async function deleteChain(table: Table, chain: string): Promise<boolean> {
  const flushed = await ipt(table, ['-F', chain]);
  const removed = await ipt(table, ['-X', chain]);
  return flushed.ok || removed.ok;
}

/** `iptables-save -t <table>` output. */
export async function save(table: Table): Promise<string> {
  return run('iptables-save', ['-t', table]);
}

/** Splits an iptables-save line into arguments (double quotes with backslash escapes). */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of line.matchAll(re)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/** The argument after `flag`, if the flag is there. */
export function argAfter(tokens: string[], flag: string): string | undefined {
  const i = tokens.indexOf(flag);
  return i < 0 ? undefined : tokens[i + 1];
}

export function hasComment(tokens: string[], prefix: string): boolean {
  return tokens.some((t, i) => t === '--comment' && tokens[i + 1] === prefix);
}

export interface SavedRule extends Rule {
  line: string;
}

/** The `-A` rules of a table that carry the prefix's comment or jump into one of its chains. */
export function ownedRules(saveText: string, table: Table, prefix: string): SavedRule[] {
  const rules: SavedRule[] = [];
  for (const line of saveText.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    const t = tokenize(line);
    const target = argAfter(t, '-j') ?? argAfter(t, '-g') ?? '';
    if (hasComment(t, prefix) || chainOwnedBy(prefix, t[1]!) || chainOwnedBy(prefix, target)) {
      rules.push({ table, chain: t[1]!, args: t.slice(2), line });
    }
  }
  return rules;
}

/** The table's user chains named for the prefix. */
export function ownedChains(saveText: string, prefix: string): string[] {
  return saveText.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!)
    .filter((c) => chainOwnedBy(prefix, c));
}

/** Deletes the DNAT rules in `chain` forwarding to an address `drop` picks; returns their lines and how many rules went (duplicates count). */
async function deleteDnat(chain: string, drop: (ip: string) => boolean): Promise<{ lines: string[]; n: number }> {
  const r = await ipt('nat', ['-S', chain]);
  const out = { lines: [] as string[], n: 0 };
  if (!r.ok) return out;
  for (const line of r.stdout.split('\n')) {
    const t = tokenize(line);
    const to = argAfter(t, '--to-destination');
    if (t[0] === '-A' && to !== undefined && drop(to.split(':')[0]!)) {
      const n = await deleteRule({ table: 'nat', chain, args: t.slice(2) });
      out.n += n;
      if (n) out.lines.push(`iptables -t nat ${line}`);
    }
  }
  return out;
}

/** Deletes the DNAT rules in `chain` that forward to `ip`; returns how many. */
export async function deleteDnatTo(chain: string, ip: string): Promise<number> {
  return (await deleteDnat(chain, (to) => to === ip)).n;
}

/** Deletes the DNAT rules in `chain` to any address not in `keep` (a crash's leftovers); returns their lines. */
export async function deleteDnatExcept(chain: string, keep: Set<string>): Promise<string[]> {
  return (await deleteDnat(chain, (to) => !keep.has(to))).lines;
}

/** Removes every rule and chain of the prefix in filter and nat; returns what went. */
export async function removeAll(prefix: string): Promise<string[]> {
  const removed: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const text = await save(table);
    const chains = ownedChains(text, prefix);
    // Rules in foreign chains (the jumps) first, then our chains themselves.
    for (const r of ownedRules(text, table, prefix)) {
      if (chainOwnedBy(prefix, r.chain)) continue;
      if (await deleteRule(r)) removed.push(`iptables -t ${table} ${r.line}`);
    }
    for (const c of chains) if (await deleteChain(table, c)) removed.push(`iptables -t ${table} chain ${c}`);
  }
  return removed;
}

/**
 * Makes `chain` hold exactly `rules` in order: left alone when it already does (no window
 * without the rules on a restart), else flushed and refilled.
 */
export async function syncChain(table: Table, chain: string, rules: Rule[]): Promise<void> {
  await ensureChain(table, chain);
  const current = (await run('iptables', ['-w', '-t', table, '-S', chain])).split('\n').filter((l) => l.startsWith('-A '));
  let same = current.length === rules.length;
  for (const r of rules) if (same && !(await ruleExists(r))) same = false;
  if (same) return;
  await run('iptables', ['-w', '-t', table, '-F', chain]);
  for (const r of rules) await run('iptables', ['-w', '-t', table, '-A', chain, ...r.args]);
}
