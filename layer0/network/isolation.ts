// Isolation groups and anti-spoofing in the kernel: per container, its source address jumps into
// its group's chain in ISO (alone: no rule, it reaches no container), the group's chain accepts it as a
// destination, and its veth may only send its own IPv4 address and MAC (ebtables). Attach and
// detach are one iptables-restore and one ebtables-restore each, in parallel (container start is
// a hot path), with rule-by-rule fallbacks; prune reconciles the chains after a crash.
import * as ipt from './iptables.ts';
import { chainName, groupChainName, isGroupChain } from './names.ts';
import { memberRules, spoofRules, type Rule } from './rules.ts';

export interface Member {
  containerId: string;
  ip: string;
  mac: string;
  vethHost: string;
  /** The caller's opaque group; absent: a group of its own. */
  group?: string;
}

/** The chain of a container's group; null for a container alone (no ISO rule: it reaches no container, itself through a published port included). */
export function groupOf(prefix: string, m: Pick<Member, 'containerId' | 'group'>): string | null {
  return m.group ? groupChainName(prefix, `group:${m.group}`) : null;
}

interface MemberRules {
  iso: Rule | null;
  member: Rule | null;
  spoof: Rule[];
}

function rulesOf(prefix: string, m: Member): MemberRules {
  const spoof = spoofRules(prefix, m.vethHost, m.ip, m.mac);
  const group = groupOf(prefix, m);
  if (group === null) return { iso: null, member: null, spoof };
  return { ...memberRules(prefix, m.ip, group), spoof };
}

const filterRules = (r: MemberRules) => [r.member, r.iso].filter((x): x is Rule => x !== null);

/**
 * Adds a container's rules. `newGroup`: no other attachment is in its group, so the group's chain
 * is (re)declared, which also empties what a crash may have left in it.
 */
export async function addMember(prefix: string, m: Member, newGroup: boolean): Promise<void> {
  const r = rulesOf(prefix, m);
  const group = groupOf(prefix, m);
  const filter = [...(newGroup && group !== null ? [`:${group} - [0:0]`] : []), ...filterRules(r).map((x) => ipt.ruleLine('-A', x))];
  const [ip4, eb] = await Promise.all([
    ipt.applyBatch('ip4', 'filter', filter),
    ipt.applyBatch('eb', 'nat', r.spoof.map((x) => ipt.ruleLine('-A', x))),
  ]);
  if (!ip4) await ensureFilter(r, group);
  if (!eb) {
    for (const x of r.spoof) await ipt.deleteRule(x);
    for (const x of r.spoof) await ipt.ensureRule(x);
  }
}

async function ensureFilter(r: MemberRules, group: string | null): Promise<void> {
  if (group !== null) await ipt.ensureChain('filter', group);
  for (const x of filterRules(r)) await ipt.ensureRule(x);
}

/** Adds whichever of a container's rules are missing (after an agent restart); idempotent. */
export async function ensureMember(prefix: string, m: Member): Promise<void> {
  const r = rulesOf(prefix, m);
  await ensureFilter(r, groupOf(prefix, m));
  const present = await Promise.all(r.spoof.map((x) => ipt.ruleExists(x)));
  if (present.some((p) => !p)) {
    for (const x of r.spoof) await ipt.deleteRule(x);
    for (const x of r.spoof) await ipt.ensureRule(x);
  }
}

/**
 * Removes a container's own rules (never its group's chain: see dropGroupChain); idempotent.
 * Its rules name only its address and veth, so this may run beside other attachments as long as
 * the address is not handed out again before it is done.
 */
export async function removeMember(prefix: string, m: Member): Promise<void> {
  const r = rulesOf(prefix, m);
  const own = filterRules(r).reverse();
  const [ip4, eb] = await Promise.all([
    ipt.applyBatch('ip4', 'filter', own.map((x) => ipt.ruleLine('-D', x))),
    ipt.applyBatch('eb', 'nat', r.spoof.map((x) => ipt.ruleLine('-D', x))),
  ]);
  if (!ip4) for (const x of own) await ipt.deleteRule(x);
  if (!eb) for (const x of r.spoof) await ipt.deleteRule(x);
}

/** Deletes a group's chain if it is empty and nothing jumps to it (the kernel refuses otherwise). */
export async function dropGroupChain(group: string): Promise<void> {
  await ipt.deleteEmptyChain('filter', group);
}

const bare = (addr: string) => addr.replace(/\/32$/, '');

/**
 * After a crash: removes ISO jumps, group members, empty group chains and veth rules that no held
 * attachment accounts for, then adds what the held ones miss. Resolves with a line per removal.
 */
export async function reconcile(prefix: string, held: Member[]): Promise<string[]> {
  const removed: string[] = [];
  const iso = chainName(prefix, 'ISO');
  // Where each held address jumps from ISO: its group's chain (a container alone has no rule).
  const want = new Map(held.map((m) => [m.ip, groupOf(prefix, m)]));
  const filter = await ipt.save('filter');
  const chains = ipt.ownedChains(filter, prefix);
  const used = new Set(want.values());
  for (const r of ipt.ownedRules(filter, 'filter', prefix)) {
    const src = ipt.argAfter(r.args, '-s');
    const dst = ipt.argAfter(r.args, '-d');
    const target = ipt.argAfter(r.args, '-j') ?? '';
    const isoOk = src !== undefined && want.get(bare(src)) === target;
    const stale = (r.chain === iso && !isoOk)
      || (isGroupChain(prefix, r.chain) && (dst === undefined || want.get(bare(dst)) !== r.chain));
    if (stale && (await ipt.deleteRule(r))) removed.push(`iptables -t filter ${r.line}`);
  }
  for (const c of chains) {
    if (isGroupChain(prefix, c) && !used.has(c) && (await ipt.deleteChain('filter', c))) removed.push(`iptables -t filter chain ${c}`);
  }
  const veths = new Set(held.map((m) => m.vethHost));
  const spoof = chainName(prefix, 'SPOOF');
  for (const r of ipt.ownedRules(await ipt.save('nat', 'eb'), 'nat', prefix, 'eb')) {
    const veth = ipt.argAfter(r.args, '-i');
    if (r.chain === spoof && (veth === undefined || !veths.has(veth)) && (await ipt.deleteRule(r))) removed.push(`ebtables -t nat ${r.line}`);
  }
  for (const m of held) await ensureMember(prefix, m);
  return removed;
}
