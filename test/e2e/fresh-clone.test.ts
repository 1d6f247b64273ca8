// A stranger's first run (issue 12): `git clone` of this checkout's HEAD (no node_modules), then
// only the README's commands: `npm start -- --detach` (which must install the npm dependencies
// before anything imports tsx, and find runc installed in the same process), `slipway
// apps:create`, `git push`, the app answering through the router, `slipway down`. Its own
// prefix, home, run dir and ports; `npm link` goes to a temp npm prefix, not the machine's.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fixtureRepo, push } from '../helpers/git-push.ts';
import { httpGet } from '../helpers/http.ts';
import { findLeaks } from '../helpers/leaks.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { freePort, until } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'slwt-clone-'));
const clone = join(dir, 'slipway');
const env: NodeJS.ProcessEnv = {
  ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: testPrefix('f'),
  SLIPWAY_API_PORT: String(await freePort()), SLIPWAY_HTTP_PORT: String(await freePort()), SLIPWAY_HTTPS_PORT: String(await freePort()),
  SLIPWAY_ROUTER_ADMIN_PORT: String(await freePort()), SLIPWAY_BLOB_PORT: String(await freePort()),
  // `npm start` links the CLI; here into a prefix of the test's own (the npm cache stays shared).
  npm_config_prefix: join(dir, 'npm-prefix'),
};
const slipway = (cwd: string, args: string[], extra: NodeJS.ProcessEnv = {}, timeout = 120_000) =>
  execFileP(process.execPath, [join(clone, 'bin/slipway.js'), ...args], { cwd, env: { ...env, ...extra }, timeout });

after(async () => {
  if (existsSync(join(clone, 'node_modules'))) await slipway(clone, ['down'], {}, 70_000).catch(() => undefined);
  const leaks = await findLeaks(env.SLIPWAY_PREFIX!, { runcRoots: [join(dir, 'run', 'runc')] });
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leaks, [], 'slipway down leaves nothing');
});

describe('a fresh clone', { timeout: 900_000 }, () => {
  it('npm start -- --detach installs what it needs, and the first push builds and serves', async () => {
    const head = (await execFileP('git', ['-C', ROOT, 'rev-parse', 'HEAD'])).stdout.trim();
    await execFileP('git', ['clone', '-q', ROOT, clone]);
    await execFileP('git', ['-C', clone, 'checkout', '-q', '--detach', head]);
    assert.ok(!existsSync(join(clone, 'node_modules')), 'a clone has no node_modules');

    const started = await execFileP('npm', ['start', '--', '--detach'], { cwd: clone, env, timeout: 600_000 }).catch((err: Error & { stdout?: string; stderr?: string }) => {
      let log = '';
      try {
        log = readFileSync(join(dir, 'home', 'logs', 'slipway.log'), 'utf8').split('\n').slice(-30).join('\n');
      } catch { /* none */ }
      throw new Error(`npm start failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}\n${log}`);
    });
    assert.match(started.stdout, /slipway is up/);
    assert.ok(existsSync(join(clone, 'node_modules', '.package-lock.json')), 'npm start installed the locked dependencies');
    assert.ok(existsSync(join(dir, 'npm-prefix', 'bin', 'slipway')), 'and linked the CLI');

    const cli = { SLIPWAY_URL: `http://127.0.0.1:${env.SLIPWAY_API_PORT}`, SLIPWAY_TOKEN: readFileSync(join(dir, 'home', 'admin-token'), 'utf8').trim() };
    const repo = join(dir, 'app');
    const sha = await fixtureRepo(repo, 'node-deps');
    await slipway(repo, ['apps:create', 'first'], cli);
    const r = await push(repo).done;
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /-----> Deployed v\d+/);
    const body = await until('the app through the router', async () => {
      const res = await httpGet(Number(env.SLIPWAY_HTTP_PORT), '/', { host: 'first.localhost' }).catch(() => null);
      return res?.status === 200 ? res.body : null;
    }, 30_000);
    assert.match(body, new RegExp(`^node-deps ok: .*version=${sha}`));

    // The host's cgroup kind and controllers, in status (admins) and in doctor, which counts
    // the running platform's ports as its own.
    const status = JSON.parse((await slipway(repo, ['status', '--json'], cli)).stdout) as { hosts: { cgroups: string }[] };
    assert.match(status.hosts[0]!.cgroups, /^(v1|hybrid|v2) \(.*memory.*\)$/);
    const doctor = JSON.parse((await slipway(clone, ['doctor', '--json'])).stdout) as { ok: boolean; checks: { name: string; level: string }[] };
    assert.equal(doctor.ok, true, JSON.stringify(doctor.checks.filter((c) => c.level !== 'ok')));

    const down = await slipway(clone, ['down'], {}, 70_000);
    assert.match(down.stdout, /slipway is down/);
  });
});
