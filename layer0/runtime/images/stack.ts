// importStack: the default stack's run image as `slipway/stack:bookworm` (and
// `slipway/stack:latest`); importBuildStack: its build image (compilers, -dev headers) as
// `slipway/stack:bookworm-build`. Built into the machine cache by deploy/build-stack and hard-link
// copied from there, so a fresh SLIPWAY_HOME gets them in seconds. Called by `slipway up`, the
// agent's set-up and tests.
import type { SlipwayPaths } from '../../common/paths.ts';
import { ensureStack, type EnsureStackOptions } from '../../../deploy/stack.ts';
import type { ImageRecord } from '../types.ts';
import type { ImageStore } from './store.ts';

export const STACK_NAME = 'bookworm';
export const STACK_IMAGE = 'slipway/stack:bookworm';
export const STACK_LATEST = 'slipway/stack:latest';
export const BUILD_STACK_IMAGE = 'slipway/stack:bookworm-build';

const STACK_CHANGES = [
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'ENV LANG=C.UTF-8',
  'CMD ["bash"]',
];

/** Idempotent: when the tag already names an image of the current stack layer, only re-tags. */
export async function importStack(store: ImageStore, paths: Pick<SlipwayPaths, 'cache'>, opts: EnsureStackOptions = {}): Promise<ImageRecord> {
  const stack = await ensureStack(paths, { ...opts, image: 'run' });
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

/** The build image (same idempotence); builds run on it, slugs never do. */
export async function importBuildStack(store: ImageStore, paths: Pick<SlipwayPaths, 'cache'>, opts: EnsureStackOptions = {}): Promise<ImageRecord> {
  const stack = await ensureStack(paths, { ...opts, image: 'build' });
  const current = store.tryResolve(BUILD_STACK_IMAGE);
  if (current && current.layer === stack.layerDigest && current.parent === null) return store.resolve(current.id);
  const image = await store.importLayer(
    { digest: stack.layerDigest, tarPath: stack.tarPath },
    {
      reference: BUILD_STACK_IMAGE,
      changes: [...STACK_CHANGES, `LABEL slipway.stack=${STACK_NAME}-build slipway.stack.recipe=${stack.recipeHash}`],
      message: `stack ${STACK_NAME} build image (recipe ${stack.recipeHash})`,
      allowDevices: true,
    },
  );
  return store.resolve(image.id);
}
