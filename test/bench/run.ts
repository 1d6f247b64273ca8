// `npm run bench -- NAME`: runs one benchmark; each prints a table and, last, one JSON line
// {"bench","metric","value","baseline","ratio","target","unit","pass"}.
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
await benches[name]();
