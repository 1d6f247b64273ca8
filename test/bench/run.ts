// `npm run bench -- NAME`: runs one benchmark; each prints a table and, last, one JSON line
// {"bench","metric","value","baseline","ratio","target","unit","pass"}. Exit 2: bad usage or
// something the bench needs is missing (preflight.ts says what and how to get it).
import { preflight } from './preflight.ts';

const benches: Record<string, () => Promise<unknown>> = {
  'container-start': () => import('./container-start.ts'),
  'scheduler-placement': () => import('./scheduler-placement.ts'),
  failover: () => import('./failover.ts'),
  'api-latency': () => import('./api-latency.ts'),
  router: () => import('./router.ts'),
  deploy: () => import('./deploy.ts'),
  logs: () => import('./logs.ts'),
};

const name = process.argv[2];
if (!name || !benches[name]) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}>`);
  process.exit(2);
}
const missing = preflight(name);
if (missing) {
  console.error(missing);
  process.exit(2);
}
try {
  await benches[name]();
} catch (err) {
  // A message, not a stack trace; SLIPWAY_DEBUG=1 shows the stack.
  console.error(`bench ${name} failed: ${process.env.SLIPWAY_DEBUG ? (err as Error).stack : err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
