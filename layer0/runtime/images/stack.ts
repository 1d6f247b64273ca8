// importStack: the default stack as image `slipway/stack:bookworm` (and `slipway/stack:latest`),
// built into the machine cache by deploy/build-stack and hard-link copied from there, so a fresh
// SLIPWAY_HOME gets it in seconds. Called by `slipway up`, the agent's set-up and tests.
import type { SlipwayPaths } from '../../common/paths.ts';
import { ensureStack, type EnsureStackOptions } from '../../../deploy/stack.ts';
import type { ImageRecord } from '../types.ts';
import type { ImageStore } from './store.ts';

export const STACK_NAME = 'bookworm';
export const STACK_IMAGE = 'slipway/stack:bookworm';
export const STACK_LATEST = 'slipway/stack:latest';

const STACK_CHANGES = [
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'ENV LANG=C.UTF-8',
  'CMD ["bash"]',
];

/** Idempotent: when the tag already names an image of the current stack layer, only re-tags. */
export async function importStack(store: ImageStore, paths: Pick<SlipwayPaths, 'cache'>, opts: EnsureStackOptions = {}): Promise<ImageRecord> {
  const stack = await ensureStack(paths, opts);
  const current = store.tryResolve(STACK_IMAGE);
  if (current && current.layer === stack.layerDigest && current.parent === null) {
    if (!current.tags.includes(STACK_LATEST)) store.tag(current.id, STACK_LATEST);
    return store.resolve(current.id);
  }
  // The digest comes from `<recipe>.digest` beside the tar: no re-hashing; the layer is copied
  // from $SLIPWAY_CACHE/layers with `cp -al` (the tar is only the fallback).
  const image = await store.importLayer(
    { digest: stack.layerDigest, tarPath: stack.tarPath },
    {
      reference: STACK_IMAGE,
      changes: [...STACK_CHANGES, `LABEL slipway.stack=${STACK_NAME} slipway.stack.recipe=${stack.recipeHash}`],
      message: `stack ${STACK_NAME} (recipe ${stack.recipeHash})`,
      allowDevices: true,
    },
  );
  store.tag(image.id, STACK_LATEST);
  return store.resolve(image.id);
}
