// The runtime's event bus: listeners for live `docker events` and a ring of recent events for
// `since` replays.
import type { RuntimeEvent } from './types.ts';

const KEEP = 2000;

export class EventBus {
  private readonly ring: RuntimeEvent[] = [];
  private readonly listeners = new Set<(e: RuntimeEvent) => void>();
  private lastNano = 0n;

  emit(type: RuntimeEvent['type'], action: string, id: string, attributes: Record<string, string> = {}): void {
    // Strictly increasing times keep replay order stable when events share a millisecond.
    let timeNano = BigInt(Date.now()) * 1_000_000n;
    if (timeNano <= this.lastNano) timeNano = this.lastNano + 1n;
    this.lastNano = timeNano;
    const e: RuntimeEvent = { type, action, id, attributes, timeNano };
    this.ring.push(e);
    if (this.ring.length > KEEP) this.ring.shift();
    for (const l of this.listeners) l(e);
  }

  on(listener: (e: RuntimeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  since(nano: bigint): RuntimeEvent[] {
    return this.ring.filter((e) => e.timeNano >= nano);
  }
}
