// Looks at the host (routes, addresses, listening sockets), the sysctls the network sets and
// br_netfilter; the inputs of subnet choice and free-port picking.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { SlipwayError } from '../common/errors.ts';
import { run, tryRun } from './exec.ts';

/** Destinations of every route (`ip -j route`) plus every interface address, except on `skipDev`. */
export async function takenRanges(skipDev: string): Promise<string[]> {
  const routes = JSON.parse((await run('ip', ['-j', 'route', 'show'])) || '[]') as { dst: string; dev?: string }[];
  const addrs = JSON.parse((await run('ip', ['-j', '-4', 'addr', 'show'])) || '[]') as {
    ifname: string;
    addr_info?: { family: string; local: string; prefixlen: number }[];
  }[];
  const out = routes.filter((r) => r.dev !== skipDev).map((r) => r.dst);
  for (const l of addrs) {
    if (l.ifname === skipDev) continue;
    for (const a of l.addr_info ?? []) if (a.family === 'inet') out.push(`${a.local}/${a.prefixlen}`);
  }
  return out;
}

/** Ports in LISTEN state (tcp) or bound (udp) from /proc/net/{tcp,udp}{,6}. */
export async function busyPorts(): Promise<{ tcp: Set<number>; udp: Set<number> }> {
  const res = { tcp: new Set<number>(), udp: new Set<number>() };
  for (const proto of ['tcp', 'udp'] as const) {
    for (const file of [proto, `${proto}6`]) {
      const text = await readFile(`/proc/net/${file}`, 'utf8').catch(() => '');
      for (const p of parseProcNet(text, proto === 'tcp' ? '0A' : '07')) res[proto].add(p);
    }
  }
  return res;
}

/** Local ports of the sockets in `state` (hex, 0A = LISTEN, 07 = UDP CLOSE i.e. bound). */
export function parseProcNet(text: string, state: string): number[] {
  const ports: number[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== state) continue;
    ports.push(parseInt(f[1]!.split(':')[1]!, 16));
  }
  return ports;
}

/** Host ports that appear as `--dport` in the nat table (other instances' published ports). */
export function natPorts(saveText: string): { tcp: Set<number>; udp: Set<number> } {
  const res = { tcp: new Set<number>(), udp: new Set<number>() };
  for (const m of saveText.matchAll(/-p (tcp|udp)\b.*?--dport (\d+)/g)) res[m[1] as 'tcp' | 'udp'].add(Number(m[2]));
  return res;
}

export async function sysctl(key: string, value: string): Promise<void> {
  const path = `/proc/sys/${key.replaceAll('.', '/')}`;
  if ((await readFile(path, 'utf8')).trim() !== value) await writeFile(path, value);
}

/** Sets a sysctl that may not exist here (no IPv6); true when it changed. */
export async function trySysctl(key: string, value: string): Promise<boolean> {
  const path = `/proc/sys/${key.replaceAll('.', '/')}`;
  const now = await readFile(path, 'utf8').catch(() => null);
  if (now === null || now.trim() === value) return false;
  await writeFile(path, value);
  return true;
}

/**
 * Bridged IPv4 frames pass through iptables only with br_netfilter (the bridge asks for it per
 * device, see links.ensureBridge): loads the module when it is missing, else refuses to run
 * containers that the isolation rules would not see.
 */
export async function ensureBridgeNetfilter(): Promise<void> {
  const dir = '/proc/sys/net/bridge';
  if (existsSync(dir)) return;
  await tryRun('modprobe', ['br_netfilter']).catch(() => undefined);
  if (!existsSync(dir)) {
    throw new SlipwayError('unavailable', 'the br_netfilter kernel module is missing (modprobe br_netfilter): without it containers of different apps could reach each other');
  }
}
