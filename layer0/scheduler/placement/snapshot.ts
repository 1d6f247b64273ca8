// Snapshot primitives: make a host slot, add or release a job's limits, copy a snapshot.
// The scheduler's ../snapshot.ts builds snapshots from observed state; place() commits through these.
import type { HostAvailability, HostSlot, Snapshot } from './types.ts';

export function hostSlot(id: string, capacity: { memory: number; cpus: number }, availability: HostAvailability = 'ready'): HostSlot {
  return { id, capacity: { ...capacity }, used: { memory: 0, cpus: 0 }, groups: new Map(), jobs: 0, availability };
}

/** Sorts hosts by id (code-unit order, not locale order, so every machine agrees). */
export function snapshotOf(hosts: HostSlot[]): Snapshot {
  return { hosts: [...hosts].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

/** Charges a job's limits to the host; `alive` jobs also count for spread. */
export function addJob(host: HostSlot, group: string, res: { memory: number; cpus: number }, alive = true): void {
  host.used.memory += res.memory;
  host.used.cpus += res.cpus;
  if (!alive) return;
  host.groups.set(group, (host.groups.get(group) ?? 0) + 1);
  host.jobs++;
}

export function releaseJob(host: HostSlot, group: string, res: { memory: number; cpus: number }, alive = true): void {
  host.used.memory -= res.memory;
  host.used.cpus -= res.cpus;
  if (!alive) return;
  const n = (host.groups.get(group) ?? 0) - 1;
  if (n > 0) host.groups.set(group, n);
  else host.groups.delete(group);
  host.jobs--;
}

export function cloneSnapshot(s: Snapshot): Snapshot {
  return {
    hosts: s.hosts.map((h) => ({ ...h, capacity: { ...h.capacity }, used: { ...h.used }, groups: new Map(h.groups) })),
  };
}
