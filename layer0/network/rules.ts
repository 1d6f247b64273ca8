// Pure iptables argument lists: our chains, their fixed rules, the jumps from the built-in
// chains, and one DNAT rule per published port. Every rule carries `-m comment --comment <prefix>`.
import type { PortBinding } from '../runtime/types.ts';
import { chainName, type ChainKind } from './names.ts';

export type Table = 'filter' | 'nat';

export interface Rule {
  table: Table;
  chain: string;
  /** Match and target arguments, without `-A CHAIN`; the comment included. */
  args: string[];
}

export interface RuleContext {
  prefix: string;
  bridge: string;
  subnet: string;
}

export function comment(prefix: string): string[] {
  return ['-m', 'comment', '--comment', prefix];
}

export const CHAIN_TABLES: Record<ChainKind, Table> = { FWD: 'filter', INPUT: 'filter', DNAT: 'nat', POST: 'nat' };

export function ourChains(prefix: string): { table: Table; chain: string }[] {
  return (Object.keys(CHAIN_TABLES) as ChainKind[]).map((k) => ({ table: CHAIN_TABLES[k], chain: chainName(prefix, k) }));
}

/** Jumps from built-in chains into ours; inserted at the top so they come before others' rules. */
export function jumpRules({ prefix, bridge }: RuleContext): Rule[] {
  const c = comment(prefix);
  const local = ['-m', 'addrtype', '--dst-type', 'LOCAL'];
  return [
    { table: 'filter', chain: 'FORWARD', args: [...c, '-j', chainName(prefix, 'FWD')] },
    { table: 'filter', chain: 'INPUT', args: ['-i', bridge, ...c, '-j', chainName(prefix, 'INPUT')] },
    { table: 'nat', chain: 'PREROUTING', args: [...local, ...c, '-j', chainName(prefix, 'DNAT')] },
    // No `! -d 127.0.0.0/8` (Docker's userland-proxy=false): published ports answer on localhost.
    { table: 'nat', chain: 'OUTPUT', args: [...local, ...c, '-j', chainName(prefix, 'DNAT')] },
    { table: 'nat', chain: 'POSTROUTING', args: [...c, '-j', chainName(prefix, 'POST')] },
  ];
}

/** The fixed rules inside our own chains, in order. */
export function baseRules({ prefix, bridge, subnet }: RuleContext): Rule[] {
  const c = comment(prefix);
  const fwd = chainName(prefix, 'FWD');
  const input = chainName(prefix, 'INPUT');
  const post = chainName(prefix, 'POST');
  const f = (chain: string, args: string[]): Rule => ({ table: 'filter', chain, args });
  const rules: Rule[] = [
    // Containers may talk to each other and out; from elsewhere only replies and published ports.
    f(fwd, ['-i', bridge, '-j', 'ACCEPT']),
    f(fwd, ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'ACCEPT']),
    f(fwd, ['-o', bridge, '-j', 'DROP']),
    // Containers never open connections to the host itself (agent, Redis, controller, …).
    f(input, ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']),
    f(input, ['-j', 'DROP']),
    { table: 'nat', chain: post, args: ['-s', subnet, '!', '-o', bridge, '-j', 'MASQUERADE'] },
    // Published ports reached through 127.0.0.1 (needs route_localnet): the container cannot answer 127/8.
    { table: 'nat', chain: post, args: ['-s', '127.0.0.0/8', '-o', bridge, '-j', 'MASQUERADE'] },
    // Hairpin: container -> hostIP:published -> container on the same bridge must see the gateway as source.
    { table: 'nat', chain: post, args: ['-s', subnet, '-d', subnet, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'MASQUERADE'] },
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
