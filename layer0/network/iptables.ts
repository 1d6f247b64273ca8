// The one module that runs iptables, ip6tables and ebtables (the first two always `-w`): chains,
// idempotent rules, batches, and removal of everything carrying an instance's comment or chain
// names, found from the *-save output.
import { existsSync } from 'node:fs';
import { run, tryRun, type RunResult } from './exec.ts';
import { chainOwnedBy } from './names.ts';
import type { Family, Rule, Table } from './rules.ts';

const TOOL: Record<Family, string> = { ip4: 'iptables', ip6: 'ip6tables', eb: 'ebtables' };
const lockArgs = (f: Family) => (f === 'eb' ? [] : ['-w']);
const cmd = (f: Family, table: Table, args: string[]): [string, string[]] => [TOOL[f], [...lockArgs(f), '-t', table, ...args]];
const ipt = (table: Table, args: string[], f: Family = 'ip4'): Promise<RunResult> => tryRun(...cmd(f, table, args));
const fam = (r: Rule): Family => r.family ?? 'ip4';

/** Whether the kernel has IPv6 (else ip6tables has nothing to filter). */
export function hostHasIpv6(): boolean {
  return existsSync('/proc/net/if_inet6');
}

export async function ensureChain(table: Table, chain: string, f: Family = 'ip4'): Promise<void> {
  if ((await ipt(table, ['-N', chain], f)).ok) return;
  if (!(await ipt(table, f === 'eb' ? ['-L', chain] : ['-S', chain], f)).ok) await run(...cmd(f, table, ['-N', chain]));
}

/** ebtables has no check command: compares the rule's flag/value pairs with the saved lines. */
function ebKey(args: string[]): string {
  const pairs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i]!.startsWith('-') && i + 1 < args.length && !args[i + 1]!.startsWith('-')) pairs.push(`${args[i]} ${args[++i]}`);
    else pairs.push(args[i]!);
  }
  return pairs.sort().join(' ');
}

export async function ruleExists(r: Rule): Promise<boolean> {
  if (fam(r) !== 'eb') return (await ipt(r.table, ['-C', r.chain, ...r.args], fam(r))).ok;
  const want = ebKey(r.args);
  return (await save(r.table, 'eb')).split('\n').some((l) => {
    const t = tokenize(l);
    return t[0] === '-A' && t[1] === r.chain && ebKey(t.slice(2)) === want;
  });
}

/** Appends the rule, or inserts it at `position`, unless an identical one is there. */
export async function ensureRule(r: Rule, position?: number): Promise<void> {
  if (await ruleExists(r)) return;
  const where = position === undefined ? ['-A', r.chain] : ['-I', r.chain, String(position)];
  await run(...cmd(fam(r), r.table, [...where, ...r.args]));
}

/** Deletes every copy of the rule; returns how many went. Missing rule or chain is fine. */
export async function deleteRule(r: Rule): Promise<number> {
  let n = 0;
  while (n < 100 && (await ipt(r.table, ['-D', r.chain, ...r.args], fam(r))).ok) n++;
  return n;
}

export async function deleteChain(table: Table, chain: string, f: Family = 'ip4'): Promise<boolean> {
  const flushed = await ipt(table, ['-F', chain], f);
  const removed = await ipt(table, ['-X', chain], f);
  return flushed.ok || removed.ok;
}

/** `-X` alone: refused by the kernel while the chain has rules or something jumps to it. */
export async function deleteEmptyChain(table: Table, chain: string, f: Family = 'ip4'): Promise<boolean> {
  return (await ipt(table, ['-X', chain], f)).ok;
}

/** `iptables-save -t <table>` output (ip6tables-save, ebtables-save for the other families). */
export async function save(table: Table, f: Family = 'ip4'): Promise<string> {
  return run(`${TOOL[f]}-save`, ['-t', table]);
}

/**
 * Applies `-A`/`-I`/`-D` lines and chain declarations (`:CHAIN`, which also flushes it) to one
 * table in one process, all or nothing (`*-restore --noflush`); false when it was refused.
 */
export async function applyBatch(f: Family, table: Table, lines: string[]): Promise<boolean> {
  if (lines.length === 0) return true;
  const text = `*${table}\n${lines.join('\n')}\nCOMMIT\n`;
  return (await tryRun(`${TOOL[f]}-restore`, [...lockArgs(f), '--noflush'], text)).ok;
}

/** A rule as a restore line: `-A CHAIN args` (quoted where needed). */
export function ruleLine(op: '-A' | '-D', r: Rule): string {
  return [op, r.chain, ...r.args].map((a) => (/^[\w./:,!+-]+$/.test(a) ? a : `"${a.replace(/(["\\])/g, '\\$1')}"`)).join(' ');
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
export function ownedRules(saveText: string, table: Table, prefix: string, family: Family = 'ip4'): SavedRule[] {
  const rules: SavedRule[] = [];
  for (const line of saveText.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    const t = tokenize(line);
    const target = argAfter(t, '-j') ?? argAfter(t, '-g') ?? '';
    if (hasComment(t, prefix) || chainOwnedBy(prefix, t[1]!) || chainOwnedBy(prefix, target)) {
      rules.push({ family, table, chain: t[1]!, args: t.slice(2), line });
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

/** Every (tool, table) the network writes to. */
export const TABLES: { family: Family; table: Table }[] = [
  { family: 'ip4', table: 'filter' }, { family: 'ip4', table: 'nat' }, { family: 'ip4', table: 'raw' },
  { family: 'ip6', table: 'filter' }, { family: 'eb', table: 'nat' },
];

/** Removes every rule and chain of the prefix in all of TABLES; returns what went. */
export async function removeAll(prefix: string): Promise<string[]> {
  const removed: string[] = [];
  for (const { family, table } of TABLES) {
    // A kernel without IPv6 or bridge filtering has none of ours there.
    const got = await tryRun(`${TOOL[family]}-save`, ['-t', table]).catch(() => null);
    if (!got?.ok) continue;
    const text = got.stdout;
    const chains = ownedChains(text, prefix);
    const label = `${TOOL[family]} -t ${table}`;
    // Rules in foreign chains (the jumps) first, then our chains themselves (group chains after ISO).
    for (const r of ownedRules(text, table, prefix, family)) {
      if (chainOwnedBy(prefix, r.chain)) continue;
      if (await deleteRule(r)) removed.push(`${label} ${r.line}`);
    }
    for (const c of chains) await ipt(table, ['-F', c], family);
    for (const c of chains) if ((await ipt(table, ['-X', c], family)).ok) removed.push(`${label} chain ${c}`);
  }
  return removed;
}

/**
 * Makes `chain` hold exactly `rules` in order: left alone when it already does (no window
 * without the rules on a restart), else flushed and refilled.
 */
export async function syncChain(table: Table, chain: string, rules: Rule[], f: Family = 'ip4'): Promise<void> {
  await ensureChain(table, chain, f);
  const listed = f === 'eb' ? '' : (await run(...cmd(f, table, ['-S', chain])));
  const current = listed.split('\n').filter((l) => l.startsWith('-A '));
  let same = f !== 'eb' && current.length === rules.length;
  for (const r of rules) if (same && !(await ruleExists(r))) same = false;
  if (same) return;
  await run(...cmd(f, table, ['-F', chain]));
  for (const r of rules) await run(...cmd(f, table, ['-A', chain, ...r.args]));
}
