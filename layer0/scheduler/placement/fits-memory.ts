// Filter: the host's advertised memory minus the memory limits already placed on it must
// hold the job's memory limit (limits, not usage: a job may grow to its limit at any time).
import type { FilterPlugin } from './types.ts';

export const fitsMemory: FilterPlugin = {
  name: 'fits-memory',
  reason: 'insufficient_memory',
  filter: (host, req) => host.capacity.memory - host.used.memory >= req.memory,
};
