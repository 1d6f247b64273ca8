// The network component's public face: the HostNetwork factory, clean-up by prefix, the types.
import type { Logger } from '../common/logger.ts';
import { BridgeNetwork } from './host-network.ts';
import type { HostNetwork, NetworkConfig } from './types.ts';

export * from './types.ts';
export { cleanupByPrefix } from './cleanup.ts';

export function createHostNetwork(config: NetworkConfig, log?: Logger): HostNetwork {
  return new BridgeNetwork(config, log?.child({ component: 'network' }));
}
