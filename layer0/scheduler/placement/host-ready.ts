// Filter: only hosts that are neither lost nor draining take new jobs.
import type { FilterPlugin } from './types.ts';

export const hostReady: FilterPlugin = {
  name: 'host-ready',
  reason: 'host_unavailable',
  filter: (host) => host.availability === 'ready',
};
