// The agent's event hub: container events from the runtime and image events from the image
// store, kept in a bounded ring for `GET /events?since=` replay and fanned out to live streams.
import type { RuntimeEvent } from '../runtime/types.ts';

const MAX_EVENTS = 2048;

export function nowNano(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export class EventHub {
  private readonly ring: RuntimeEvent[] = [];
  private readonly subs = new Set<(e: RuntimeEvent) => void>();

  push(e: RuntimeEvent): void {
    this.ring.push(e);
    if (this.ring.length > MAX_EVENTS) this.ring.splice(0, this.ring.length - MAX_EVENTS);
    for (const s of this.subs) s(e);
  }

  /** Events at or after `sinceNano`, oldest first. */
  since(sinceNano: bigint): RuntimeEvent[] {
    let lo = 0;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ring[mid]!.timeNano < sinceNano) lo = mid + 1;
      else hi = mid;
    }
    return this.ring.slice(lo);
  }

  subscribe(fn: (e: RuntimeEvent) => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }
}
