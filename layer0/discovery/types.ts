// Discovery in layer 0's words: services, their instances (an address and free-form meta)
// kept alive by TTL heartbeats, watch streams, and leader election with fencing tokens.
import { z } from 'zod';

export const InstanceSchema = z.object({
  /** Unique within the service (a host id, a container id). */
  id: z.string().min(1).max(200),
  service: z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,99}$/),
  /** `host:port` (or a URL) where the instance is reached. */
  addr: z.string().max(500),
  meta: z.record(z.string(), z.string()).default({}),
  /** ms since epoch. */
  registeredAt: z.number(),
});
export type Instance = z.infer<typeof InstanceSchema>;

export interface RegisterOptions {
  /** An instance whose heartbeats stop disappears this long after the last one (default 5000). */
  ttlMs?: number;
  /** Heartbeat interval (default 1000). */
  heartbeatMs?: number;
}

export interface Registration {
  readonly instance: Instance;
  /** Replaces the instance's meta (and keeps heartbeating). */
  update(meta: Record<string, string>): Promise<void>;
  /** Removes the instance at once and stops heartbeating. */
  deregister(): Promise<void>;
}

/** First a `current` snapshot, then changes in order; after a Redis reconnect the stream resumes without loss or duplicates. */
export type WatchEvent =
  | { type: 'current'; instances: Instance[] }
  | { type: 'up' | 'update' | 'down'; instance: Instance };

export interface Leader {
  id: string;
  /** Strictly increasing per election name: a newer leader always has a larger token. */
  token: number;
  meta: Record<string, string>;
}

export interface Leadership {
  /** Whether this candidate leads now; `token` is its fencing token (of the latest term it won). */
  readonly isLeader: boolean;
  readonly token: number;
  /** Called on every change: elected (with the new token) or deposed. */
  on(event: 'elected', fn: (token: number) => void): void;
  on(event: 'deposed', fn: () => void): void;
  /** Steps down (if leading) and stops campaigning. */
  resign(): Promise<void>;
}

export interface Discovery {
  register(service: string, instance: { id: string; addr: string; meta?: Record<string, string> }, opts?: RegisterOptions): Promise<Registration>;
  instances(service: string): Promise<Instance[]>;
  watch(service: string, signal?: AbortSignal): AsyncIterable<WatchEvent>;
  /** Campaigns for leadership of `name` until resigned; ttl as for instances. */
  campaign(name: string, candidate: { id: string; meta?: Record<string, string> }, opts?: { ttlMs?: number }): Leadership;
  leader(name: string): Promise<Leader | null>;
  close(): Promise<void>;
}

/** Well-known service names. */
export const HOSTS_SERVICE = 'slipway-hosts';
export const SCHEDULER_ELECTION = 'slipway-scheduler';
