// Score: the free fraction of memory (and of CPUs, when the host advertises any) left after
// placing the job, 0–100; an emptier host scores higher (Kubernetes' LeastAllocated).
import type { ScorePlugin } from './types.ts';

export const leastAllocated: ScorePlugin = {
  name: 'least-allocated',
  weight: 1,
  score: (host, req) => {
    const { capacity: cap, used } = host;
    const mem = cap.memory > 0 ? Math.max(0, cap.memory - used.memory - req.memory) / cap.memory : 0;
    if (cap.cpus <= 0) return 100 * mem;
    const cpu = Math.max(0, cap.cpus - used.cpus - req.cpus) / cap.cpus;
    return 50 * (mem + cpu);
  },
};
