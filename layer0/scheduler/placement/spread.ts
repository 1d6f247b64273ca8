// Score: fewer jobs of the same formation and job name on a host scores higher, so a
// formation's jobs spread across hosts (0 there → 100, 1 → 50, 2 → 33, ...).
import type { ScorePlugin } from './types.ts';

export const spread: ScorePlugin = {
  name: 'spread',
  weight: 2,
  score: (host, req) => 100 / (1 + (host.groups.get(req.group) ?? 0)),
};
