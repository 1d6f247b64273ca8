// The one-time fix-up of an existing $SLIPWAY_HOME at the agent's start (a tree made before homes
// were private): group and other bits off everywhere, except the containers' own filesystems,
// which keep the modes their processes need (they sit behind the 0700 home and container dirs).
// A marker file makes later starts skip the walk. New files get their modes where they are made.
import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { restrictTree, writeFilePrivate, PRIVATE_DIR } from '../common/private-state.ts';

const MARKER = '.private-v1';
/** Image layer trees (hard links into the machine cache: never chmod them), container roots and upper dirs, and the /etc files bind-mounted into containers. */
const CONTAINER_CONTENT = [/^images\/layers\/[0-9a-f]{64}$/, /^containers\/[^/]+\/(rootfs|upper|hosts|hostname|resolv\.conf)$/];

export const isContainerContent = (rel: string) => CONTAINER_CONTENT.some((re) => re.test(rel));

/** Returns how many entries it changed (0 when the marker says it already ran). */
export function restrictHome(home: string): number {
  chmodSync(home, PRIVATE_DIR);
  if (existsSync(join(home, MARKER))) return 0;
  const changed = restrictTree(home, isContainerContent);
  writeFilePrivate(join(home, MARKER), 'group and other bits cleared under this home (layer0/runtime/private-home.ts)\n');
  return changed;
}
