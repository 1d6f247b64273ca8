// Removes everything an instance prefix names on the machine, from names alone (works after
// the agent died): iptables jumps and chains, veths, netns, the bridge.
import { removeAll } from './iptables.ts';
import { deleteLink, deleteNetns, listLinks, listNetns } from './links.ts';
import { bridgeName, checkPrefix, ownedBy } from './names.ts';

/** Returns a line per removed object (`link NAME`, `netns NAME`, `iptables …`). */
export async function cleanupByPrefix(prefix: string): Promise<string[]> {
  checkPrefix(prefix);
  const removed = await removeAll(prefix);
  // Host-side veths first: deleting a link is synchronous, a netns' interfaces go asynchronously.
  const links = (await listLinks()).filter((l) => ownedBy(prefix, l));
  const bridge = bridgeName(prefix);
  for (const l of links.filter((x) => x !== bridge)) if (await deleteLink(l)) removed.push(`link ${l}`);
  for (const ns of (await listNetns()).filter((n) => ownedBy(prefix, n))) {
    if (await deleteNetns(ns)) removed.push(`netns ${ns}`);
  }
  if (links.includes(bridge) && (await deleteLink(bridge))) removed.push(`link ${bridge}`);
  return removed;
}
