// Isolation groups and anti-spoofing in the kernel: per container, its source address jumps into
// its group's chain in ISO, the group's chain accepts it as a destination, and its veth may only
// send its own IPv4 address and MAC (ebtables). Attach and detach are one iptables-restore and
// one ebtables-restore each (container start is a hot path), with rule-by-rule fallbacks; prune
// reconciles the chains with the attachments after a crash.
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

/** The chain of a container's group: containers without a group are alone in theirs. */
export function groupOf(prefix: string, m: Pick<Member, 'containerId' | 'group'>): string {
  return groupChainName(prefix, m.group ? `group:${m.group}` : `container:${m.containerId}`);
}

function rulesOf(prefix: string, m: Member): { iso: Rule; member: Rule; spoof: Rule[] } {
  return { ...memberRules(prefix, m.ip, groupOf(prefix, m)), spoof: spoofRules(prefix, m.vethHost, m.ip, m.mac) };
}

/**
 * Adds a container's rules. `newGroup`: no other attachment is in its group, so the group's chain
 * is (re)declared, which also empties what a crash may have left in it.
 */
export async function addMember(prefix: string, m: Member, newGroup: boolean): Promise<void> {
  const r = rulesOf(prefix, m);
  const group = groupOf(prefix, m);
  const filter = [...(newGroup ? [`:${group} - [0:0]`] : []), ipt.ruleLine('-A', r.member), ipt.ruleLine('-A', r.iso)];
  const [ip4, eb] = await Promise.all([
    ipt.applyBatch('ip4', 'filter', filter),
    ipt.applyBatch('eb', 'nat', r.spoof.map((x) => ipt.ruleLine('-A', x))),
  ]);
  if (!ip4) {
    await ipt.ensureChain('filter', group);
    await ipt.ensureRule(r.member);
    await ipt.ensureRule(r.iso);
  }
  if (!eb) {
    for (const x of r.spoof) await ipt.deleteRule(x);
    for (const x of r.spoof) await ipt.ensureRule(x);
  }
}

/** Adds whichever of a container's rules are missing (after an agent restart); idempotent. */
export async function ensureMember(prefix: string, m: Member): Promise<void> {
  const r = rulesOf(prefix, m);
  await ipt.ensureChain('filter', groupOf(prefix, m));
  await ipt.ensureRule(r.member);
  await ipt.ensureRule(r.iso);
  const present = await Promise.all(r.spoof.map((x) => ipt.ruleExists(x)));
  if (present.some((p) => !p)) {
    for (const x of r.spoof) await ipt.deleteRule(x);
    for (const x of r.spoof) await ipt.ensureRule(x);
  }
}

/** Removes a container's rules, and its group's chain when `lastOfGroup`; idempotent. */
export async function removeMember(prefix: string, m: Member, lastOfGroup: boolean): Promise<void> {
  const r = rulesOf(prefix, m);
  const group = groupOf(prefix, m);
  const [ip4, eb] = await Promise.all([
    ipt.applyBatch('ip4', 'filter', [ipt.ruleLine('-D', r.iso), ipt.ruleLine('-D', r.member)]),
    ipt.applyBatch('eb', 'nat', r.spoof.map((x) => ipt.ruleLine('-D', x))),
  ]);
  if (!ip4) {
    await ipt.deleteRule(r.iso);
    await ipt.deleteRule(r.member);
  }
  if (!eb) for (const x of r.spoof) await ipt.deleteRule(x);
  if (lastOfGroup) await ipt.deleteChain('filter', group);
}

const bare = (addr: string) => addr.replace(/\/32$/, '');

/**
 * After a crash: removes ISO jumps, group members, empty group chains and veth rules that no held
 * attachment accounts for, then adds what the held ones miss. Resolves with a line per removal.
 */
export async function reconcile(prefix: string, held: Member[]): Promise<string[]> {
  const removed: string[] = [];
  const iso = chainName(prefix, 'ISO');
  const want = new Map(held.map((m) => [m.ip, groupOf(prefix, m)]));
  const filter = await ipt.save('filter');
  const chains = ipt.ownedChains(filter, prefix);
  const used = new Set(want.values());
  for (const r of ipt.ownedRules(filter, 'filter', prefix)) {
    const src = ipt.argAfter(r.args, '-s');
    const dst = ipt.argAfter(r.args, '-d');
    const target = ipt.argAfter(r.args, '-j') ?? '';
    const stale = (r.chain === iso && (src === undefined || want.get(bare(src)) !== target))
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
