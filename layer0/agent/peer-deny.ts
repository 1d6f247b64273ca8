// Keeps containers away from every host of the cluster: the addresses hosts advertise in
// discovery (their agents, routers' admin ports, blobstore, controller, Redis when it runs on
// one) join the operator's static deny list in the network's DENY chain, refreshed on a timer.
import type { Logger } from '../common/logger.ts';
import { HOSTS_SERVICE, type Discovery } from '../discovery/types.ts';
import type { HostNetwork } from '../network/types.ts';

export interface PeerDenyOptions {
  discovery: Discovery;
  network: HostNetwork;
  /** Always denied (the operator's list, the Redis host). */
  static: string[];
  everyMs?: number;
  log: Logger;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The advertised IPv4 addresses of hosts, but loopback (the host itself is closed anyway). */
export function peerAddresses(addresses: (string | undefined)[]): string[] {
  return [...new Set(addresses.filter((a): a is string => a !== undefined && IPV4.test(a) && !a.startsWith('127.')))].sort();
}

/** Syncs once now (awaited: containers started after the agent is up are covered), then every `everyMs`. */
export async function startPeerDeny(o: PeerDenyOptions): Promise<{ close(): void }> {
  const sync = async () => {
    const hosts = await o.discovery.instances(HOSTS_SERVICE);
    await o.network.setDeny([...o.static, ...peerAddresses(hosts.map((h) => h.meta.address))]);
  };
  await sync().catch((err: unknown) => o.log.warn({ err }, 'reading the cluster\'s hosts for the deny list failed'));
  const timer = setInterval(() => {
    sync().catch((err: unknown) => o.log.warn({ err }, 'refreshing the cluster\'s deny list failed'));
  }, o.everyMs ?? 5000);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
