// The builder's public face: the producer API (enqueue, follow, cancel, wait), the store the
// controller's builds routes read, slug images, and the types. The worker is started by the
// composition root (`startBuilder` from worker.ts).
export * from './types.ts';
export { createBuildQueue, QUEUE_NAME, type BuildQueue, type BuildQueueOptions } from './queue.ts';
export { BuildStore, KEY_PREFIX } from './store.ts';
export { slugImage, slugBlobsToKeep, SLUG_REPO, SLUG_PARENT, type SlugImage } from './slug.ts';
export { buildCacheDir, purgeBuildCache } from './cache.ts';
export { LineSplitter, MAX_LINE } from './lines.ts';
