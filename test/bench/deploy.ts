// deploy: the node-deps fixture app from `git push slipway main` until the push returns with the new
// version answering through the router, on a platform of `slipway up --detach` (fresh home, free
// ports). Cold (first push: empty build cache, npm ci, first release) and warm (later pushes: the
// cache holds node_modules). Where the time goes comes from the push's own `Done in …` line
// (receive, build, slug, start, health check, route switch).
// Baseline, same run: plain `npm ci` of the same app inside the stack, in a build container on the
// same agent with the build's mounts and env (the host's registry and CA bundle), empty npm cache.
// Target: warm deploy ≤ 2 × npm ci + 3 s (issue 6).
// Also (issue 12) a cold push of node-deps20 (engines.node "22.x", 20 dependencies: Node and npm
// from the registry) on a fresh app cache, with that Node already in the host's runtime cache (a
// priming push of another app puts it there). Baseline: plain `npm ci` of node-deps20 in the
// build image. Target: ≤ 2 × that npm ci + 10 s. `pass` needs both targets.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BUILD_IMAGE } from '../../layer1/builder/slug.ts';
import { CONTAINER_CA_PATH, readHostBuildEnv } from '../../layer1/builder/host-env.ts';
import { APPS, BIN, fixtureRepo, git, push, slipwayIn } from '../helpers/git-push.ts';
import { httpGet } from '../helpers/http.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { freePort, until } from '../helpers/wait.ts';
import { finish, median, table } from './report.ts';

const execFileP = promisify(execFile);
const WARM = Number(process.env.BENCH_N ?? 5);
const BASELINE_RUNS = 3;
const PHASES = ['receive', 'build', 'slug', 'start', 'health check', 'route switch'] as const;

const dir = mkdtempSync(join(tmpdir(), 'slwt-bench-deploy-'));
const env: NodeJS.ProcessEnv = {
  ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: testPrefix('d'),
  SLIPWAY_API_PORT: String(await freePort()), SLIPWAY_HTTP_PORT: String(await freePort()), SLIPWAY_HTTPS_PORT: String(await freePort()),
  SLIPWAY_ROUTER_ADMIN_PORT: String(await freePort()), SLIPWAY_BLOB_PORT: String(await freePort()),
};
const slipway = (args: string[], timeout = 300_000) => execFileP(process.execPath, [BIN, ...args], { env, timeout });
const docker = (args: string[]) => execFileP('docker', ['-H', `unix://${join(dir, 'run', 'agent.sock')}`, ...args], { timeout: 300_000 });

/** `Done in 2.3 s (receive 0.0 s, build 1.3 s, …)` → phase → seconds. */
function phasesOf(out: string): Record<string, number> {
  const m = /Done in [\d.]+ s \(([^)]*)\)/.exec(out);
  const r: Record<string, number> = {};
  for (const part of m?.[1]?.split(', ') ?? []) {
    const p = /^(.+) ([\d.]+) s$/.exec(part.trim());
    if (p) r[p[1]!] = Number(p[2]);
  }
  return r;
}

interface Deploy { seconds: number; phases: Record<string, number> }

async function deployOnce(repo: string, app: string): Promise<Deploy> {
  const sha = await git(repo, 'rev-parse', 'HEAD');
  const r = await push(repo).done;
  const seconds = r.ms / 1000;
  if (r.code !== 0) throw new Error(`push failed:\n${r.out}`);
  const res = await httpGet(Number(env.SLIPWAY_HTTP_PORT), '/', { host: `${app}.localhost` });
  if (res.status !== 200 || !res.body.includes(`version=${sha}`)) throw new Error(`the new version does not answer after the push: ${res.status} ${res.body.slice(0, 200)}`);
  return { seconds, phases: phasesOf(r.out) };
}

/** `npm ci` of the fixture in a build-image container with the build's mounts and env; seconds inside the container. */
async function npmCi(fixture: string): Promise<number> {
  const host = await readHostBuildEnv();
  const ca = host.caBundle ? ['-v', `${host.caBundle}:${CONTAINER_CA_PATH}:ro`, '-e', `NODE_EXTRA_CA_CERTS=${CONTAINER_CA_PATH}`, '-e', `npm_config_cafile=${CONTAINER_CA_PATH}`] : [];
  const script = 'cp -r /src /tmp/app && cd /tmp/app && s=$(date +%s.%N) && npm ci --no-audit --no-fund >/dev/null && e=$(date +%s.%N) && echo "npmci $s $e"';
  const { stdout } = await docker([
    'run', '--rm', '--network', 'bridge', '-v', `${join(APPS, fixture)}:/src:ro`, ...ca, '-e', `npm_config_registry=${host.npmRegistry}`,
    '-e', 'HOME=/tmp/home', '-e', 'NODE_ENV=production', BUILD_IMAGE, 'bash', '-c', script,
  ]);
  const m = /npmci ([\d.]+) ([\d.]+)/.exec(stdout);
  if (!m) throw new Error(`npm ci did not report: ${stdout}`);
  return Number(m[2]) - Number(m[1]);
}

try {
  await slipway(['up', '--detach']);
  const cli = { ...process.env, SLIPWAY_URL: `http://127.0.0.1:${env.SLIPWAY_API_PORT}`, SLIPWAY_TOKEN: readFileSync(join(dir, 'home', 'admin-token'), 'utf8').trim() };
  const repo = join(dir, 'app');
  await fixtureRepo(repo, 'node-deps');
  await slipwayIn(repo, cli, ['apps:create', 'bench-deploy']);

  const cold = await deployOnce(repo, 'bench-deploy');
  const warm: Deploy[] = [];
  // A push returns once the new release serves; the replaced processes then drain (5 s) and the
  // app's next rollout waits for that. Each push here starts after it, as a person's next push would.
  const settled = () => until('the previous rollout ended', async () => {
    const r = await fetch(`${cli.SLIPWAY_URL}/v1/apps/bench-deploy/deployments?limit=1`, { headers: { authorization: `Bearer ${cli.SLIPWAY_TOKEN}` } });
    const d = ((await r.json()) as { items: { state: string }[] }).items[0];
    return !d || d.state === 'succeeded' || d.state === 'failed';
  }, 300_000, 200);
  for (let i = 0; i < WARM; i++) {
    await settled();
    await git(repo, 'commit', '-q', '--allow-empty', '-m', `warm ${i}`);
    warm.push(await deployOnce(repo, 'bench-deploy'));
  }
  // node-deps20: prime the host's runtime cache with its Node (another app), then a cold push.
  const primeRepo = join(dir, 'prime');
  await fixtureRepo(primeRepo, 'node-deps20');
  await slipwayIn(primeRepo, cli, ['apps:create', 'bench-prime']);
  await deployOnce(primeRepo, 'bench-prime');
  const nodeRepo = join(dir, 'node20');
  await fixtureRepo(nodeRepo, 'node-deps20');
  await slipwayIn(nodeRepo, cli, ['apps:create', 'bench-node20']);
  const nodeCold = await deployOnce(nodeRepo, 'bench-node20');

  const base: number[] = [];
  for (let i = 0; i < BASELINE_RUNS; i++) base.push(await npmCi('node-deps'));
  const base20: number[] = [];
  for (let i = 0; i < BASELINE_RUNS; i++) base20.push(await npmCi('node-deps20'));

  const value = median(warm.map((d) => d.seconds));
  const baseline = median(base);
  const target = 2 * baseline + 3;
  const baseline20 = median(base20);
  const target20 = 2 * baseline20 + 10;
  const warmPhases = Object.fromEntries(PHASES.map((p) => [p, median(warm.map((d) => d.phases[p] ?? 0))]));
  console.log(table([
    ['', 'seconds', ...PHASES],
    ['cold push (first, npm ci)', cold.seconds, ...PHASES.map((p) => cold.phases[p] ?? 0)],
    [`warm push (median of ${WARM})`, value, ...PHASES.map((p) => warmPhases[p]!)],
    [`npm ci in the stack (median of ${BASELINE_RUNS})`, baseline, ...PHASES.map(() => '')],
    ['target: 2 × npm ci + 3', target, ...PHASES.map(() => '')],
    ['node-deps20 cold push (Node cached on the host)', nodeCold.seconds, ...PHASES.map((p) => nodeCold.phases[p] ?? 0)],
    [`node-deps20 npm ci in the build image (median of ${BASELINE_RUNS})`, baseline20, ...PHASES.map(() => '')],
    ['target: 2 × npm ci + 10', target20, ...PHASES.map(() => '')],
  ]));
  const round = (n: number) => Math.round(n * 1000) / 1000;
  finish({
    bench: 'deploy', metric: 'seconds', value: round(value), baseline: round(baseline), ratio: round(value / baseline), target: round(target), unit: 's',
    pass: value <= target && nodeCold.seconds <= target20,
    ...({
      cold: round(cold.seconds), warm: warm.map((d) => round(d.seconds)), phases: { cold: cold.phases, warm: warmPhases },
      nodeCold: { value: round(nodeCold.seconds), baseline: round(baseline20), target: round(target20), pass: nodeCold.seconds <= target20, phases: nodeCold.phases },
    } as object),
  } as Parameters<typeof finish>[0]);
} finally {
  await slipway(['down'], 70_000).catch((err: Error) => console.error(`slipway down failed: ${err.message}`));
  rmSync(dir, { recursive: true, force: true });
}
