// Pure: the events that turn one view of a service into another. watch.ts uses it when a
// watcher fell behind the trimmed stream and must catch up from a fresh snapshot.
import type { Instance, WatchEvent } from './types.ts';

/** `down` for the gone, `update` for the changed, `up` for the new, each group ordered by id. */
export function diffInstances(before: Iterable<Instance>, after: Iterable<Instance>): WatchEvent[] {
  const old = new Map<string, Instance>();
  for (const i of before) old.set(i.id, i);
  const next = new Map<string, Instance>();
  for (const i of after) next.set(i.id, i);
  const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const events: WatchEvent[] = [];
  for (const id of [...old.keys()].sort(byId)) if (!next.has(id)) events.push({ type: 'down', instance: old.get(id)! });
  const ups: WatchEvent[] = [];
  for (const id of [...next.keys()].sort(byId)) {
    const was = old.get(id);
    const now = next.get(id)!;
    if (!was) ups.push({ type: 'up', instance: now });
    else if (!sameInstance(was, now)) events.push({ type: 'update', instance: now });
  }
  return events.concat(ups);
}

export function sameInstance(a: Instance, b: Instance): boolean {
  if (a.id !== b.id || a.service !== b.service || a.addr !== b.addr || a.registeredAt !== b.registeredAt) return false;
  const ak = Object.keys(a.meta);
  if (ak.length !== Object.keys(b.meta).length) return false;
  return ak.every((k) => Object.prototype.hasOwnProperty.call(b.meta, k) && a.meta[k] === b.meta[k]);
}

/** Applies one event to a view (the watcher's and the tests' model of a service). */
export function applyEvent(view: Map<string, Instance>, ev: WatchEvent): void {
  if (ev.type === 'current') {
    view.clear();
    for (const i of ev.instances) view.set(i.id, i);
  } else if (ev.type === 'down') view.delete(ev.instance.id);
  else view.set(ev.instance.id, ev.instance);
}
