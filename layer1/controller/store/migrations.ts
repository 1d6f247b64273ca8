// The data model's schema version (`<prefix>schema`) and the migrations that advance it,
// run in order at start under a lock. A controller older than the data refuses to start.
import type { Redis } from 'ioredis';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { Logger } from '../../../layer0/common/logger.ts';
import type { Keys } from './keys.ts';

export interface Migration {
  version: number;
  name: string;
  up(redis: Redis, keys: Keys): Promise<void>;
}

/** Append only; each step is idempotent (a crash mid-way reruns it). */
export const MIGRATIONS: Migration[] = [
  // Version 1 is the first layout (store/keys.ts); there is nothing older to convert.
  { version: 1, name: 'initial layout', up: async () => {} },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export async function migrate(redis: Redis, keys: Keys, log: Logger, migrations: Migration[] = MIGRATIONS): Promise<number> {
  const lockId = `${process.pid}-${Math.random()}`;
  for (let i = 0; (await redis.set(keys.migrating, lockId, 'PX', 60_000, 'NX')) !== 'OK'; i++) {
    if (i > 600) throw new SlipwayError('unavailable', 'another controller has been migrating the data model for over a minute');
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    let current = Number((await redis.get(keys.schema)) ?? 0);
    const latest = migrations.length ? migrations[migrations.length - 1].version : 0;
    if (current > latest) {
      throw new SlipwayError('conflict', `the data model is at schema version ${current}, newer than this controller knows (${latest}): upgrade the controller`);
    }
    for (const m of migrations) {
      if (m.version <= current) continue;
      log.info({ from: current, to: m.version, migration: m.name }, 'migrating the data model');
      await m.up(redis, keys);
      await redis.set(keys.schema, String(m.version));
      current = m.version;
    }
    return current;
  } finally {
    if ((await redis.get(keys.migrating)) === lockId) await redis.del(keys.migrating);
  }
}
