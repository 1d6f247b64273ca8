// Pure rule argument lists: our chains (iptables for IPv4, ip6tables, ebtables for the bridge),
// their fixed rules, the jumps from the built-in chains, one DNAT rule per published port, and
// the per-container isolation and anti-spoofing rules. Every ip(6)tables rule carries
// `-m comment --comment <prefix>`; ebtables rules are found by their chain names.
import type { PortBinding } from '../runtime/types.ts';
import { chainName, type ChainKind } from './names.ts';

export type Table = 'filter' | 'nat' | 'raw';
/** Which tool: iptables (IPv4), ip6tables, ebtables (bridge frames). */
export type Family = 'ip4' | 'ip6' | 'eb';

export interface Rule {
  /** Default 'ip4'. */
  family?: Family;
  table: Table;
  chain: string;
  /** Match and target arguments, without `-A CHAIN`; the comment included (not for 'eb'). */
  args: string[];
}

export interface RuleContext {
  prefix: string;
  bridge: string;
  subnet: string;
}

export interface ChainRef {
  family: Family;
  table: Table;
  chain: string;
  kind: ChainKind;
  /** Holds per-container or configured rules (never synced to the fixed set). */
  dynamic: boolean;
}

export function comment(prefix: string): string[] {
  return ['-m', 'comment', '--comment', prefix];
}

const CHAINS: { family: Family; table: Table; kind: ChainKind; dynamic: boolean }[] = [
  { family: 'ip4', table: 'filter', kind: 'FWD', dynamic: false },
  { family: 'ip4', table: 'filter', kind: 'INPUT', dynamic: false },
  { family: 'ip4', table: 'filter', kind: 'ISO', dynamic: true },
  { family: 'ip4', table: 'filter', kind: 'DENY', dynamic: true },
  { family: 'ip4', table: 'nat', kind: 'DNAT', dynamic: true },
  { family: 'ip4', table: 'nat', kind: 'POST', dynamic: false },
  { family: 'ip4', table: 'raw', kind: 'RAW', dynamic: false },
  { family: 'ip6', table: 'filter', kind: 'FWD', dynamic: false },
  { family: 'ip6', table: 'filter', kind: 'INPUT', dynamic: false },
  { family: 'eb', table: 'nat', kind: 'SPOOF', dynamic: true },
];

export function ourChains(prefix: string): ChainRef[] {
  return CHAINS.map((c) => ({ ...c, chain: chainName(prefix, c.kind) }));
}

/** Jumps from built-in chains into ours; inserted at the top so they come before others' rules. */
export function jumpRules({ prefix, bridge }: RuleContext): Rule[] {
  const c = comment(prefix);
  const local = ['-m', 'addrtype', '--dst-type', 'LOCAL'];
  const spoof = chainName(prefix, 'SPOOF');
  return [
    { table: 'filter', chain: 'FORWARD', args: [...c, '-j', chainName(prefix, 'FWD')] },
    { table: 'filter', chain: 'INPUT', args: ['-i', bridge, ...c, '-j', chainName(prefix, 'INPUT')] },
    // Only local traffic to 127/8 is DNATed: from the wire it is dropped in raw (CVE-2020-8558).
    { table: 'nat', chain: 'PREROUTING', args: ['!', '-d', '127.0.0.0/8', ...local, ...c, '-j', chainName(prefix, 'DNAT')] },
    // No `! -d 127.0.0.0/8` (Docker's userland-proxy=false): published ports answer on localhost.
    { table: 'nat', chain: 'OUTPUT', args: [...local, ...c, '-j', chainName(prefix, 'DNAT')] },
    { table: 'nat', chain: 'POSTROUTING', args: [...c, '-j', chainName(prefix, 'POST')] },
    { table: 'raw', chain: 'PREROUTING', args: [...c, '-j', chainName(prefix, 'RAW')] },
    { family: 'ip6', table: 'filter', chain: 'FORWARD', args: [...c, '-j', chainName(prefix, 'FWD')] },
    { family: 'ip6', table: 'filter', chain: 'INPUT', args: ['-i', bridge, ...c, '-j', chainName(prefix, 'INPUT')] },
    // Every frame that enters the bridge from a port, before the bridge learns its source MAC
    // (a forged one dropped only in filter would still move that MAC's traffic to the forger's port).
    { family: 'eb', table: 'nat', chain: 'PREROUTING', args: ['-j', spoof] },
  ];
}

/** The fixed rules inside our own chains, in order. */
export function baseRules({ prefix, bridge, subnet }: RuleContext): Rule[] {
  const c = comment(prefix);
  const fwd = chainName(prefix, 'FWD');
  const input = chainName(prefix, 'INPUT');
  const post = chainName(prefix, 'POST');
  const f = (chain: string, args: string[]): Rule => ({ table: 'filter', chain, args });
  const v6 = (chain: string, args: string[]): Rule => ({ family: 'ip6', table: 'filter', chain, args });
  const rules: Rule[] = [
    f(fwd, ['-i', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']),
    // Container to container (also through a published port, after DNAT): only within a group.
    f(fwd, ['-i', bridge, '-o', bridge, '-j', chainName(prefix, 'ISO')]),
    f(fwd, ['-i', bridge, '-o', bridge, '-j', 'DROP']),
    // Out through NAT, except to the cluster's hosts (agents, Redis, blobstore, controller, router admin).
    f(fwd, ['-i', bridge, '-j', chainName(prefix, 'DENY')]),
    f(fwd, ['-i', bridge, '-j', 'ACCEPT']),
    // From elsewhere only replies and published ports.
    f(fwd, ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'ACCEPT']),
    f(fwd, ['-o', bridge, '-j', 'DROP']),
    // Containers never open connections to the host itself (agent, Redis, controller, …).
    f(input, ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']),
    f(input, ['-j', 'DROP']),
    { table: 'nat', chain: post, args: ['-s', subnet, '!', '-o', bridge, '-j', 'MASQUERADE'] },
    // Published ports reached through 127.0.0.1 (needs route_localnet on the bridge): the container cannot answer 127/8.
    { table: 'nat', chain: post, args: ['-s', '127.0.0.0/8', '-o', bridge, '-j', 'MASQUERADE'] },
    // Hairpin: container -> hostIP:published -> container on the same bridge must see the gateway as source.
    { table: 'nat', chain: post, args: ['-s', subnet, '-d', subnet, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'MASQUERADE'] },
    // Loopback addresses never come from the wire (route_localnet would accept them on the bridge).
    { table: 'raw', chain: chainName(prefix, 'RAW'), args: ['!', '-i', 'lo', '-d', '127.0.0.0/8', '-j', 'DROP'] },
    // No IPv6 on the bridge at all (containers have it off; this is the second wall).
    v6(fwd, ['-i', bridge, '-j', 'DROP']),
    v6(fwd, ['-o', bridge, '-j', 'DROP']),
    v6(input, ['-j', 'DROP']),
  ];
  return rules.map((r) => ({ ...r, args: insertComment(r.args, c) }));
}

/** Puts the comment match before the `-j` target, where iptables-save prints it. */
function insertComment(args: string[], c: string[]): string[] {
  const j = args.indexOf('-j');
  return j < 0 ? [...args, ...c] : [...args.slice(0, j), ...c, ...args.slice(j)];
}

/** One DNAT rule per published port; `hostIp` '' matches every local address. */
export function portRule(prefix: string, containerIp: string, b: PortBinding): Rule {
  const dst = b.hostIp === '' ? [] : ['-d', b.hostIp];
  return {
    table: 'nat',
    chain: chainName(prefix, 'DNAT'),
    args: [
      ...dst, '-p', b.protocol, '-m', b.protocol, '--dport', String(b.hostPort), ...comment(prefix),
      '-j', 'DNAT', '--to-destination', `${containerIp}:${b.containerPort}`,
    ],
  };
}

/** DENY: one DROP per address or CIDR containers must never reach. */
export function denyRules(prefix: string, cidrs: string[]): Rule[] {
  return cidrs.map((d) => ({ table: 'filter', chain: chainName(prefix, 'DENY'), args: ['-d', d, ...comment(prefix), '-j', 'DROP'] }));
}

/**
 * A container's membership of its group: in ISO, its source address jumps into the group's
 * chain; the group's chain accepts it as a destination.
 */
export function memberRules(prefix: string, ip: string, group: string): { iso: Rule; member: Rule } {
  return {
    iso: { table: 'filter', chain: chainName(prefix, 'ISO'), args: ['-s', ip, ...comment(prefix), '-j', group] },
    member: { table: 'filter', chain: group, args: ['-d', ip, ...comment(prefix), '-j', 'ACCEPT'] },
  };
}

/**
 * Anti-spoofing for one bridge port: frames from the veth pass only as IPv4 from the container's
 * own MAC and address, or ARP that tells its own address and MAC; everything else (IPv6, other
 * ethertypes, forged sources) is dropped. Appended in this order.
 */
export function spoofRules(prefix: string, veth: string, ip: string, mac: string): Rule[] {
  const chain = chainName(prefix, 'SPOOF');
  const eb = (args: string[]): Rule => ({ family: 'eb', table: 'nat', chain, args: ['-i', veth, ...args] });
  return [
    eb(['-s', mac, '-p', 'IPv4', '--ip-src', ip, '-j', 'RETURN']),
    eb(['-s', mac, '-p', 'ARP', '--arp-ip-src', ip, '--arp-mac-src', mac, '-j', 'RETURN']),
    eb(['-j', 'DROP']),
  ];
}
