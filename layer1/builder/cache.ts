// The apps' build caches on the builder's host: `$SLIPWAY_HOME/cache/builds/<appId>`, bound
// read-write at /tmp/cache in every build of the app. `builds:cache:purge` empties one.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AppRefSchema } from './types.ts';

export function buildCacheDir(home: string, appId: string): string {
  AppRefSchema.shape.id.parse(appId);
  return join(home, 'cache', 'builds', appId);
}

/** Removes the app's cache (the next build starts cold). A build running meanwhile keeps what it has open. */
export async function purgeBuildCache(home: string, appId: string): Promise<void> {
  await rm(buildCacheDir(home, appId), { recursive: true, force: true });
}
