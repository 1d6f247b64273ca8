// Filter: a job asking for CPUs (cpus > 0) needs that many unallocated advertised CPUs;
// a job asking for none passes everywhere.
import type { FilterPlugin } from './types.ts';

// Fractional CPU sums (0.1 + 0.2) must not reject an exact fit.
const EPSILON = 1e-9;

export const fitsCpu: FilterPlugin = {
  name: 'fits-cpu',
  reason: 'insufficient_cpu',
  filter: (host, req) => req.cpus <= 0 || host.capacity.cpus - host.used.cpus + EPSILON >= req.cpus,
};
