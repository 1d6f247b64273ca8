// Load balancing: power of two random choices on in-flight requests, among the backends that
// are neither draining nor ejected (and not already tried by this request). Two random picks and
// the less busy one spread load nearly as well as least-busy-of-all without its herd behaviour
// (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing").
import type { Backend } from '../types.ts';

function usable(b: Backend, now: number, tried: Backend[] | null): boolean {
  return !b.draining && b.ejectedUntil <= now && (tried === null || !tried.includes(b));
}

export function pickBackend(backends: readonly Backend[], now: number, tried: Backend[] | null): Backend | null {
  const n = backends.length;
  if (n === 0) return null;
  if (n === 1) return usable(backends[0], now, tried) ? backends[0] : null;
  // Fast path: two distinct random backends, both usable.
  const i = Math.floor(Math.random() * n);
  let j = Math.floor(Math.random() * (n - 1));
  if (j >= i) j++;
  const a = backends[i];
  const b = backends[j];
  if (usable(a, now, tried) && usable(b, now, tried)) return a.inflight <= b.inflight ? a : b;
  // Some are out: choose among the usable ones (allocates, but only while something is wrong).
  const ok = backends.filter((x) => usable(x, now, tried));
  if (ok.length <= 1) return ok[0] ?? null;
  const k = Math.floor(Math.random() * ok.length);
  let l = Math.floor(Math.random() * (ok.length - 1));
  if (l >= k) l++;
  return ok[k].inflight <= ok[l].inflight ? ok[k] : ok[l];
}
