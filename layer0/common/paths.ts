// The platform's directories and instance prefix (DESIGN.md "Stable interfaces"), read from
// the environment once so every component agrees on them.
import { join } from 'node:path';

export interface SlipwayPaths {
  /** State that survives restarts: images, containers, Redis data. */
  home: string;
  /** Sockets, pid files, the runc root. */
  run: string;
  /** Machine-wide cache of stacks and downloaded packages, shared by every home. */
  cache: string;
  /** Prefix of every bridge, veth, netns, chain, cgroup and runc container we make. */
  prefix: string;
}

export function slipwayPaths(env: NodeJS.ProcessEnv = process.env): SlipwayPaths {
  const prefix = env.SLIPWAY_PREFIX ?? 'slw';
  if (!/^[a-z][a-z0-9]{1,9}$/.test(prefix)) {
    throw new Error(`SLIPWAY_PREFIX must be 2-10 lowercase letters and digits, got ${JSON.stringify(prefix)}`);
  }
  return {
    home: env.SLIPWAY_HOME ?? '/var/lib/slipway',
    run: env.SLIPWAY_RUN ?? '/run/slipway',
    cache: env.SLIPWAY_CACHE ?? '/var/cache/slipway',
    prefix,
  };
}

export function agentSocketPath(paths: SlipwayPaths): string {
  return join(paths.run, 'agent.sock');
}
