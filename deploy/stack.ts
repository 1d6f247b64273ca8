// ensureStack: makes sure the machine cache ($SLIPWAY_CACHE) holds the default stack's run image
// (or, with `image: 'build'`, its build image: compilers and -dev headers), running
// deploy/build-stack when it does not (minutes; well under a second when cached). Called by
// `slipway up`, the test set-up and layer0/runtime/images/stack.ts.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { SlipwayPaths } from '../layer0/common/paths.ts';

export interface StackInfo {
  /** `$SLIPWAY_CACHE/stacks/<recipe-hash>.tar`: the uncompressed rootfs tar. */
  tarPath: string;
  /** `sha256:<hex>` of that tar; `$SLIPWAY_CACHE/layers/<hex>/` is its extracted, complete layer. */
  layerDigest: string;
  recipeHash: string;
  /** True when this call had to build (or re-extract) it. */
  built: boolean;
}

export interface EnsureStackOptions {
  /** Progress lines of the build (mmdebstrap's output), for a terminal or a log. */
  onLog?: (line: string) => void;
  /** `run` (default): the image slugs run on; `build`: the one builds run on. */
  image?: 'run' | 'build';
}

const ResultSchema = z.object({
  tarPath: z.string(),
  layerDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  recipeHash: z.string(),
  built: z.boolean(),
});

export const BUILD_STACK_SCRIPT = fileURLToPath(new URL('./build-stack', import.meta.url));

const inflight = new Map<string, Promise<StackInfo>>();

/** Whether the image's current recipe is already in the cache (so ensureStack takes seconds). */
export function stackCached(paths: Pick<SlipwayPaths, 'cache'>, image: 'run' | 'build' = 'run'): boolean {
  const r = spawnSync('bash', [BUILD_STACK_SCRIPT, image, '--check'], { env: { ...process.env, SLIPWAY_CACHE: paths.cache }, stdio: 'ignore', timeout: 30_000 });
  return r.status === 0;
}

/** Idempotent; concurrent callers share one run (and the script holds a lock across processes). */
export function ensureStack(paths: Pick<SlipwayPaths, 'cache'>, opts: EnsureStackOptions = {}): Promise<StackInfo> {
  const image = opts.image ?? 'run';
  const key = `${paths.cache}\0${image}`;
  let p = inflight.get(key);
  if (!p) {
    p = runBuildStack(paths.cache, image, opts).finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  return p;
}

function runBuildStack(cache: string, image: 'run' | 'build', opts: EnsureStackOptions): Promise<StackInfo> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_STACK_SCRIPT, image], {
      env: { ...process.env, SLIPWAY_CACHE: cache },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let tail: string[] = [];
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        opts.onLog?.(line);
        tail = [...tail.slice(-19), line];
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (partial) opts.onLog?.(partial);
      if (code !== 0) {
        reject(new Error(`deploy/build-stack failed (${code ?? signal}):\n${[...tail, partial].join('\n')}`));
        return;
      }
      try {
        const last = stdout.trim().split('\n').pop() ?? '';
        resolve(ResultSchema.parse(JSON.parse(last)));
      } catch (err) {
        reject(new Error(`deploy/build-stack printed no result: ${stdout.slice(-500)}`, { cause: err }));
      }
    });
  });
}
