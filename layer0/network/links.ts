// Kernel objects through iproute2: the bridge, named netns (/run/netns/NAME) and veth pairs
// whose container side becomes eth0 inside the netns.
import { existsSync } from 'node:fs';
import { run, tryRun } from './exec.ts';

export const NETNS_DIR = '/run/netns';

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export async function listNetns(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter((n) => n !== '');
}

export async function listLinks(): Promise<string[]> {
  const links = JSON.parse((await run('ip', ['-j', 'link', 'show'])) || '[]') as { ifname: string }[];
  return links.map((l) => l.ifname);
}

/** Host-namespace links show in sysfs: no process needed. */
export async function linkExists(name: string): Promise<boolean> {
  return existsSync(`/sys/class/net/${name}`);
}

export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name));
}

/** Creates the bridge if missing and gives it the gateway address; idempotent. */
export async function ensureBridge(name: string, gatewayCidr: string): Promise<void> {
  if (!(await linkExists(name))) {
    const r = await tryRun('ip', ['link', 'add', 'name', name, 'type', 'bridge']);
    if (!r.ok && !(await linkExists(name))) throw new Error(`ip link add ${name}: ${r.stderr.trim()}`);
  }
  await run('ip', ['addr', 'replace', gatewayCidr, 'dev', name]);
  // This bridge's frames go through ip(6)tables whatever the machine-wide bridge-nf-call-* say.
  await run('ip', ['link', 'set', 'dev', name, 'type', 'bridge', 'nf_call_iptables', '1', 'nf_call_ip6tables', '1']);
  await run('ip', ['link', 'set', 'dev', name, 'up']);
}

export interface VethSpec {
  netns: string;
  hostName: string;
  tempName: string;
  bridge: string;
  mac: string;
  /** `ip/len` */
  address: string;
  gateway: string;
}

/**
 * A fresh netns with lo up and eth0 (the veth peer) addressed and routed via the gateway.
 * Three processes (`ip netns add`, then one `ip -batch` on each side) instead of a dozen:
 * container start is a hot path. IPv6 is off on eth0.
 */
export async function createNetnsWithVeth(s: VethSpec): Promise<void> {
  await run('ip', ['netns', 'add', s.netns]);
  // br_netfilter DNATs container -> hostIP:published -> the same container at the bridge
  // level, which sends the frame back out of its ingress port: needs hairpin (as Docker does).
  await run('ip', ['-batch', '-'], [
    `link add name ${s.hostName} type veth peer name ${s.tempName} address ${s.mac} netns ${s.netns}`,
    `link set dev ${s.hostName} master ${s.bridge}`,
    `link set dev ${s.hostName} type bridge_slave hairpin on`,
    `link set dev ${s.hostName} up`,
  ].join('\n') + '\n');
  // IPv6 off on eth0 before it comes up (no link-local address, no router advertisements taken
  // or sent), and for any interface made later; lo keeps ::1. One process: nsenter execs sh execs ip.
  const v6 = '/proc/sys/net/ipv6/conf';
  const off = existsSync(v6) ? `echo 1 > ${v6}/default/disable_ipv6 && echo 1 > ${v6}/${s.tempName}/disable_ipv6 && ` : '';
  await run('nsenter', [`--net=${netnsPath(s.netns)}`, '--', 'sh', '-c', `${off}exec ip -batch -`], [
    `link set dev ${s.tempName} name eth0`,
    `addr add ${s.address} dev eth0`,
    'link set dev lo up',
    'link set dev eth0 up',
    `route add default via ${s.gateway} dev eth0`,
  ].join('\n') + '\n');
}

/** Deletes a link if present; true when something went. */
export async function deleteLink(name: string): Promise<boolean> {
  if (!(await linkExists(name))) return false;
  return (await tryRun('ip', ['link', 'del', 'dev', name])).ok;
}

/** Deletes a named netns if present (its eth0 dies with it unless a process still holds it). */
export async function deleteNetns(name: string): Promise<boolean> {
  if (!netnsExists(name)) return false;
  return (await tryRun('ip', ['netns', 'del', name])).ok;
}

/** The IPv4 address of eth0 inside a netns, or null (used when a detach has no record). */
export async function netnsAddress(name: string): Promise<string | null> {
  if (!netnsExists(name)) return null;
  const r = await tryRun('ip', ['-n', name, '-j', '-4', 'addr', 'show', 'dev', 'eth0']);
  if (!r.ok) return null;
  const info = (JSON.parse(r.stdout || '[]') as { addr_info?: { local: string }[] }[])[0]?.addr_info ?? [];
  return info[0]?.local ?? null;
}
