// What every client connection of one proxy shares: the route table, settings, the backend
// pool, counters and the set of open connections (for the timeout sweep and for close()).
import type { Logger } from '../../../layer0/common/logger.ts';
import type { AccessRecord, RouteTable } from '../types.ts';
import type { BackendPool } from './backend-pool.ts';
import type { Metrics } from './metrics.ts';

export interface ProxyCore {
  readonly table: RouteTable;
  readonly log: Logger;
  readonly onAccess: ((r: AccessRecord) => void) | undefined;
  readonly connectMs: number;
  readonly firstByteMs: number;
  readonly idleMs: number;
  /** From the first byte of a request head to its end (408 after). */
  readonly headMs: number;
  readonly ejectMs: number;
  readonly maxHeaderBytes: number;
  readonly pool: BackendPool;
  readonly metrics: Metrics;
  readonly clients: Set<{ sweep(now: number): void; closeIfIdle(): void; destroy(): void }>;
  /** close() was called: finish what is in flight, take nothing new. */
  closing: boolean;
  /** The HTTPS port for redirects (null: not listening; 443 is left out of the URL). */
  httpsPort: number | null;
}
