// "Hosts" as network namespaces on a cluster bridge, for `slipway cluster up` and the tests:
// the bridge `<prefix>c0` (gateway .1, NAT out of the machine), and per host a netns
// `<prefix>h<i>` at .(10+i) with a veth pair, plus a pinned mount namespace to run its agent in.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, tryRun } from './exec.ts';
import * as ipt from './iptables.ts';
import { deleteLink, deleteNetns, linkExists, netnsExists, netnsPath } from './links.ts';
import { checkPrefix, MAX_IFNAME } from './names.ts';
import { sysctl, takenRanges } from './probe.ts';
import type { Rule } from './rules.ts';
import { withHostLock } from './state.ts';
import { formatCidr, gatewayOf, intToIp, overlaps, parseCidr } from './subnet.ts';

export const CLUSTER_POOL = '172.30.0.0/16';
export const DEFAULT_CLUSTER_SUBNET = '172.30.0.0/24';
/** Hosts sit at .(HOST_OFFSET + index). */
export const HOST_OFFSET = 10;

export interface ClusterBridge {
  prefix: string;
  name: string;
  subnet: string;
  gateway: string;
}

export interface NetnsHost {
  index: number;
  netns: string;
  address: string;
  gateway: string;
  /** veth end on the bridge (machine side) and its peer inside the netns. */
  vethHost: string;
  vethPeer: string;
  /** Set when the host has a pinned mount namespace (see `hostCommand`). */
  mountNs?: string;
}

export const clusterBridgeName = (prefix: string) => checkedIf(`${prefix}c0`);
export const hostNetnsName = (prefix: string, index: number) => `${prefix}h${index}`;
export const hostVethNames = (prefix: string, index: number) => ({
  host: checkedIf(`${prefix}h${index}a`),
  peer: checkedIf(`${prefix}h${index}b`),
});

function checkedIf(name: string): string {
  if (name.length > MAX_IFNAME) throw new Error(`interface name ${name} is longer than ${MAX_IFNAME} characters`);
  return name;
}

/** The host's address: .(10 + index) of the cluster /24. */
export function hostAddress(subnet: string, index: number): string {
  if (!Number.isInteger(index) || index < 1 || index > 240) throw new Error(`host index ${index} out of 1..240`);
  return intToIp(parseCidr(subnet).base + HOST_OFFSET + index);
}

/** The default /24 when free, else the first /24 of 172.30.0.0/16 that overlaps nothing taken. */
export function pickClusterSubnet(taken: string[]): string | null {
  const used = taken.filter((t) => t !== 'default' && t !== '').map(parseCidr).filter((u) => u.bits > 0);
  const pool = parseCidr(CLUSTER_POOL);
  for (let i = 0; i < 256; i++) {
    const cand = { base: (pool.base + i * 256) >>> 0, bits: 24 };
    if (!used.some((u) => overlaps(u, cand))) return formatCidr(cand);
  }
  return null;
}

/** Out of the machine with NAT (builds reach the npm registry), forwarding in and out of the bridge. */
export function clusterRules(prefix: string, bridge: string, subnet: string): Rule[] {
  const c = ['-m', 'comment', '--comment', prefix];
  return [
    { table: 'nat', chain: 'POSTROUTING', args: ['-s', subnet, '!', '-o', bridge, ...c, '-j', 'MASQUERADE'] },
    { table: 'filter', chain: 'FORWARD', args: ['-i', bridge, ...c, '-j', 'ACCEPT'] },
    { table: 'filter', chain: 'FORWARD', args: ['-o', bridge, ...c, '-j', 'ACCEPT'] },
  ];
}

/** Creates (or finds) the bridge, its gateway address and rules; idempotent. */
export async function createClusterBridge(opts: { prefix: string; subnet?: string }): Promise<ClusterBridge> {
  checkPrefix(opts.prefix);
  const name = clusterBridgeName(opts.prefix);
  await sysctl('net.ipv4.ip_forward', '1');
  const subnet = await withHostLock(async () => {
    const existing = await bridgeSubnet(name);
    const taken = await takenRanges(name);
    let subnet = opts.subnet ?? existing;
    if (subnet === null) {
      subnet = taken.some((t) => t !== 'default' && overlaps(parseCidr(t), parseCidr(DEFAULT_CLUSTER_SUBNET)))
        ? pickClusterSubnet(taken)
        : DEFAULT_CLUSTER_SUBNET;
      if (subnet === null) throw new Error(`no free /24 left in ${CLUSTER_POOL}`);
    }
    subnet = formatCidr(parseCidr(subnet));
    const clash = taken.find((t) => t !== 'default' && overlaps(parseCidr(t), parseCidr(subnet!)));
    if (clash !== undefined) throw new Error(`cluster subnet ${subnet} overlaps ${clash} on this machine`);
    if (!(await linkExists(name))) await run('ip', ['link', 'add', 'name', name, 'type', 'bridge']);
    await run('ip', ['addr', 'replace', `${gatewayOf(subnet)}/24`, 'dev', name]);
    await run('ip', ['link', 'set', 'dev', name, 'up']);
    return subnet;
  });
  for (const r of clusterRules(opts.prefix, name, subnet)) await ipt.ensureRule(r, r.table === 'filter' ? 1 : undefined);
  return { prefix: opts.prefix, name, subnet, gateway: gatewayOf(subnet) };
}

async function bridgeSubnet(name: string): Promise<string | null> {
  if (!(await linkExists(name))) return null;
  const r = await tryRun('ip', ['-j', '-4', 'addr', 'show', 'dev', name]);
  const a = (JSON.parse(r.stdout || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[])[0]?.addr_info?.[0];
  return a ? formatCidr(parseCidr(`${a.local}/${a.prefixlen}`)) : null;
}

/** Removes the bridge's rules and the bridge (after its hosts); idempotent. */
export async function removeClusterBridge(opts: { prefix: string; subnet?: string }): Promise<void> {
  const name = clusterBridgeName(opts.prefix);
  const subnet = opts.subnet ?? (await bridgeSubnet(name));
  if (subnet) for (const r of clusterRules(opts.prefix, name, subnet)) await ipt.deleteRule(r);
  await deleteLink(name);
}

export interface NetnsHostOptions {
  prefix: string;
  index: number;
  /** The cluster bridge's name and /24. */
  bridge: string;
  subnet: string;
  /**
   * A directory for the host's pinned mount namespace (`mnt`) and its own sysfs (`sys`). An
   * agent needs it: `ip netns exec` remounts /sys, which hides the cgroup hierarchy, and gives
   * each run a fresh mount namespace, so a restarted agent would not see its containers' mounts.
   */
  mountDir?: string;
}

const nsenterArgs = (h: { netns: string; mountNs?: string }) =>
  [`--net=${netnsPath(h.netns)}`, ...(h.mountNs ? [`--mount=${h.mountNs}`] : [])];

/** `nsenter` arguments that run `argv` inside the host (its netns, and its mount ns when pinned). */
export function hostCommand(h: Pick<NetnsHost, 'netns' | 'mountNs'>, argv: string[]): { file: string; args: string[] } {
  return { file: 'nsenter', args: [...nsenterArgs(h), '--', ...argv] };
}

/** Creates the host's netns, veth pair, address and route; idempotent. */
export async function createNetnsHost(opts: NetnsHostOptions): Promise<NetnsHost> {
  checkPrefix(opts.prefix);
  const netns = hostNetnsName(opts.prefix, opts.index);
  const veth = hostVethNames(opts.prefix, opts.index);
  const address = hostAddress(opts.subnet, opts.index);
  const gateway = gatewayOf(opts.subnet);
  if (!netnsExists(netns)) await run('ip', ['netns', 'add', netns]);
  if (!(await linkExists(veth.host))) {
    await run('ip', ['link', 'add', 'name', veth.host, 'type', 'veth', 'peer', 'name', veth.peer, 'netns', netns]);
  }
  await run('ip', ['link', 'set', 'dev', veth.host, 'master', opts.bridge]);
  await run('ip', ['link', 'set', 'dev', veth.host, 'up']);
  await run('ip', ['-n', netns, '-batch', '-'], [
    `addr replace ${address}/24 dev ${veth.peer}`,
    'link set dev lo up',
    `link set dev ${veth.peer} up`,
    `route replace default via ${gateway} dev ${veth.peer}`,
  ].join('\n') + '\n');
  await run('nsenter', [`--net=${netnsPath(netns)}`, '--', 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const host: NetnsHost = { index: opts.index, netns, address, gateway, vethHost: veth.host, vethPeer: veth.peer };
  if (opts.mountDir) host.mountNs = await ensureMountNs(netns, opts.mountDir);
  return host;
}

async function isMountPoint(path: string): Promise<boolean> {
  return (await tryRun('findmnt', ['-rn', '--mountpoint', path])).ok;
}

/**
 * A mount namespace pinned at `<dir>/mnt` whose /sys/class/net and /sys/devices/virtual/net come
 * from a sysfs mounted inside the netns, and whose /run/netns stays shared with the machine
 * (so container netns the agent makes are visible, and removable, from outside).
 */
async function ensureMountNs(netns: string, dir: string): Promise<string> {
  const pin = join(dir, 'mnt');
  if (await isMountPoint(pin)) return pin;
  mkdirSync(dir, { recursive: true });
  if (!existsSync(pin)) writeFileSync(pin, '');
  const sys = join(dir, 'sys');
  mkdirSync(sys, { recursive: true });
  const script = [
    'set -e',
    'mount -t sysfs sysfs "$1"',
    'mount --bind "$1/class/net" /sys/class/net',
    'mount --bind "$1/devices/virtual/net" /sys/devices/virtual/net',
  ].join('\n');
  await run('nsenter', [`--net=${netnsPath(netns)}`, '--', 'unshare', `--mount=${pin}`, '--propagation', 'unchanged', '--', 'sh', '-c', script, 'sh', sys]);
  return pin;
}

/** Removes the host's mount namespace pin, veth and netns; idempotent. */
export async function removeNetnsHost(opts: { prefix: string; index: number; mountDir?: string }): Promise<void> {
  const netns = hostNetnsName(opts.prefix, opts.index);
  if (opts.mountDir) {
    const pin = join(opts.mountDir, 'mnt');
    if (await isMountPoint(pin)) await run('umount', [pin]);
  }
  await deleteLink(hostVethNames(opts.prefix, opts.index).host);
  await deleteNetns(netns);
}
