// One registered instance and its heartbeat loop: at most one heartbeat in flight (they wait
// in ioredis' offline queue while Redis is away, never pile up), and a heartbeat that finds the
// instance gone (expired, or Redis lost it) registers it again. Created by client.ts.
import type { Logger } from '../common/logger.ts';
import type { Instance, Registration } from './types.ts';
import type { Store } from './store.ts';

export class HeartbeatRegistration implements Registration {
  #inst: Instance;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #inflight: Promise<void> | null = null;

  constructor(
    readonly store: Store,
    inst: Instance,
    readonly ttlMs: number,
    readonly heartbeatMs: number,
    readonly log: Logger,
    readonly onStop: (r: HeartbeatRegistration) => void,
  ) {
    this.#inst = inst;
    this.#schedule();
  }

  get instance(): Instance {
    return { ...this.#inst, meta: { ...this.#inst.meta } };
  }

  async update(meta: Record<string, string>): Promise<void> {
    if (this.#stopped) throw new Error(`instance ${this.#inst.service}/${this.#inst.id} is deregistered`);
    this.#inst = { ...this.#inst, meta: { ...meta } };
    // After any heartbeat in flight, so an older body can never land after the new one.
    await this.#inflight;
    await this.#send();
  }

  async deregister(): Promise<void> {
    this.stop();
    await this.#inflight;
    await this.store.remove(this.#inst.service, this.#inst.id);
    this.log.info({ service: this.#inst.service, id: this.#inst.id }, 'deregistered');
  }

  /** Stops heartbeating without removing the instance (it expires by its ttl). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.onStop(this);
  }

  /** Resolves when no heartbeat is in flight any more. */
  async settled(): Promise<void> {
    await this.#inflight;
  }

  async #send(): Promise<void> {
    const r = await this.store.upsert(this.#inst.service, this.#inst, this.ttlMs);
    if (r.change === 'up') this.log.info({ service: this.#inst.service, id: this.#inst.id }, 'registered again (it had expired)');
    this.#inst = { ...this.#inst, registeredAt: r.registeredAt };
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      if (this.#stopped) return;
      this.#inflight = this.#send()
        .catch((err: Error) => this.log.warn({ err: err.message, service: this.#inst.service, id: this.#inst.id }, 'heartbeat failed'))
        .finally(() => {
          this.#inflight = null;
          this.#schedule();
        });
    }, this.heartbeatMs);
  }
}
