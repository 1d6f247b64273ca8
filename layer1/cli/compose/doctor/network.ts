// `slipway doctor --network`: can a container reach the npm registry (the host's
// `npm config get registry`, nothing else) through the NAT path builds use?
import type { Check } from './checks.ts';

export const npmRegistryCheck: Check = {
  name: 'npm registry',
  network: true,
  async run() {
    return { name: 'npm registry', level: 'warn', detail: 'not checked yet', fix: 'push an app with dependencies to see' };
  },
};
