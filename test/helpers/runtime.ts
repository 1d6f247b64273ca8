// A real container runtime for tests: fresh home/run dirs, a test prefix, the busybox image,
// and a clean-up that removes every container, the network, the cgroup parent and the dirs,
// then fails when anything carrying the prefix is left.
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createHostNetwork, cleanupByPrefix } from '../../layer0/network/index.ts';
import { createRuntime, ImageStore, removeCgroupParent, type ContainerRuntime } from '../../layer0/runtime/index.ts';
import type { HostNetwork } from '../../layer0/network/types.ts';
import type { SlipwayPaths } from '../../layer0/common/paths.ts';
import { busyboxRootfsTar } from './fixtures.ts';
import { findLeaks } from './leaks.ts';

/** `slwt` + 4 hex from the suite (or fresh) + `extra`: at most 10 characters. */
export function testPrefix(extra = randomBytes(1).toString('hex')): string {
  const base = process.env.SLIPWAY_TEST_PREFIX ?? `slwt${randomBytes(2).toString('hex')}`;
  return `${base}${extra}`.slice(0, 10);
}

export interface TestRuntime {
  paths: SlipwayPaths;
  images: ImageStore;
  network: HostNetwork;
  runtime: ContainerRuntime;
  /** The busybox image reference. */
  image: string;
  /** A second runtime over the same dirs, as after an agent restart. */
  reopen(): Promise<ContainerRuntime>;
  cleanup(): Promise<void>;
}

export async function startTestRuntime(): Promise<TestRuntime> {
  const dir = mkdtempSync(join(tmpdir(), 'slwt-rt-'));
  const paths: SlipwayPaths = { home: join(dir, 'home'), run: join(dir, 'run'), cache: process.env.SLIPWAY_CACHE ?? '/var/cache/slipway', prefix: testPrefix() };
  const images = new ImageStore({ root: join(paths.home, 'images'), cacheRoot: paths.cache });
  const network = createHostNetwork({ prefix: paths.prefix, stateDir: join(paths.home, 'network') });
  let runtime = createRuntime({ paths, images, network });
  await runtime.adopt();
  const tarPath = await busyboxRootfsTar(dir);
  await images.importTar(createReadStream(tarPath), { reference: 'busybox:test' });
  return {
    paths,
    images,
    network,
    get runtime() {
      return runtime;
    },
    image: 'busybox:test',
    async reopen() {
      await runtime.close();
      runtime = createRuntime({ paths, images, network: createHostNetwork({ prefix: paths.prefix, stateDir: join(paths.home, 'network') }) });
      await runtime.adopt();
      return runtime;
    },
    async cleanup() {
      for (const c of runtime.list()) await runtime.remove(c.id, { force: true }).catch(() => undefined);
      await runtime.close();
      await network.teardown();
      await cleanupByPrefix(paths.prefix);
      removeCgroupParent(paths.prefix);
      const leaks = await findLeaks(paths.prefix, { runcRoots: [join(paths.run, 'runc')] });
      rmSync(dir, { recursive: true, force: true });
      if (leaks.length) throw new Error(`leaked resources:\n${leaks.join('\n')}`);
    },
  };
}
