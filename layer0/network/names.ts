// Pure naming rules for everything the network puts on the machine: bridge, netns, veth,
// iptables chains and comments. Clean-up and leak checks recognise our objects by these names.
import { createHash } from 'node:crypto';

/** Linux IFNAMSIZ - 1. */
export const MAX_IFNAME = 15;
const PREFIX_RE = /^[a-z][a-z0-9]{1,9}$/;

export function checkPrefix(prefix: string): void {
  if (!PREFIX_RE.test(prefix)) throw new Error(`invalid network prefix ${JSON.stringify(prefix)}`);
}

export function bridgeName(prefix: string): string {
  return `${prefix}br0`;
}

/** 12 hex chars that stand for a container id (its own first 12 when it is hex, else a hash). */
export function idHex(containerId: string, salt = 0): string {
  const id = containerId.toLowerCase();
  if (salt === 0 && /^[0-9a-f]{12}/.test(id)) return id.slice(0, 12);
  return createHash('sha256').update(`${id}\0${salt}`).digest('hex').slice(0, 12);
}

export function netnsName(prefix: string, containerId: string): string {
  return `${prefix}-${idHex(containerId)}`;
}

function ifname(prefix: string, letter: string, hex: string): string {
  return `${prefix}${letter}${hex}`.slice(0, MAX_IFNAME);
}

/** Host side of the veth pair; `salt` > 0 gives another name when the short one is taken. */
export function vethHostName(prefix: string, containerId: string, salt = 0): string {
  return ifname(prefix, 'v', idHex(containerId, salt));
}

/** Temporary name of the container side before it moves into the netns and becomes eth0. */
export function vethPeerTempName(vethHost: string, prefix: string): string {
  return `${prefix}p${vethHost.slice(prefix.length + 1)}`;
}

/**
 * FWD/INPUT: forwarding and host filter (IPv4 and IPv6); ISO: container-to-container, a jump per
 * source address into its group's chain; DENY: destinations containers never reach (the cluster's
 * hosts); DNAT/POST: published ports and NAT; RAW: 127/8 from the wire; SPOOF: bridge frames.
 */
export type ChainKind = 'FWD' | 'INPUT' | 'ISO' | 'DENY' | 'DNAT' | 'POST' | 'RAW' | 'SPOOF';

export function chainName(prefix: string, kind: ChainKind): string {
  return `${prefix.toUpperCase()}-${kind}`;
}

/**
 * The chain of an isolation group: `<PREFIX>-G` and 12 letters (a hash of the group key, hex
 * digits spelled a–p), so that chainOwnedBy claims it and the name stays within iptables' 28.
 */
export function groupChainName(prefix: string, groupKey: string): string {
  const hex = createHash('sha256').update(groupKey).digest('hex').slice(0, 12);
  const letters = [...hex].map((c) => String.fromCharCode(65 + parseInt(c, 16))).join('');
  return `${prefix.toUpperCase()}-G${letters}`;
}

export function isGroupChain(prefix: string, chain: string): boolean {
  return new RegExp(`^${prefix.toUpperCase()}-G[A-P]{12}$`).test(chain);
}

/**
 * Whether a name belongs to this prefix and no other: the prefix itself, the prefix then a
 * separator (`-`, `_`, `.`), or one of the network's shapes (`br0`, `v<hex>`, `p<hex>`, and the
 * cluster's `c0` and `h<i>a|b`).
 * The suffixes start with a non-hex letter, so `slwa` never claims `slwab`'s objects.
 */
export function ownedBy(prefix: string, name: string): boolean {
  if (!name.startsWith(prefix)) return false;
  const rest = name.slice(prefix.length);
  // Also the cluster shapes of netns-host.ts: the cluster bridge `c0`, host veths `h<i>a|b`.
  return rest === '' || /^[-_.]/.test(rest) || /^(br0|c0|h\d+[ab]|[vp][0-9a-f]+)$/.test(rest);
}

/** Whether an iptables chain name is one of ours (`<PREFIX>-<KIND>`). */
export function chainOwnedBy(prefix: string, chain: string): boolean {
  const up = prefix.toUpperCase();
  return chain.startsWith(`${up}-`) && /^[A-Z]+$/.test(chain.slice(up.length + 1));
}
