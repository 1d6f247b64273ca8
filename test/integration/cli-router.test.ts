// The router's CLI commands against a real controller (and Redis): maintenance on/off, certs
// add/list/remove from PEM files (a mismatched key refused with the API's message, exit 1),
// path routes, app settings, and `open` printing the URL when not at a terminal; --json and -a.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import { createDeploy, type Deploy } from '../../layer1/controller/deploy/index.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';

const execFileP = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const dir = mkdtempSync(join(tmpdir(), `${process.env.SLIPWAY_TEST_PREFIX ?? 'slwt'}-clir-`));
let redis: TestRedis;
let scheduler: ReturnType<typeof createSchedulerClient>;
let deploy: Deploy;
let c: TestController;
let routerUp = false;

interface Out { code: number; stdout: string; stderr: string }
function slipway(args: string[]): Promise<Out> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], {
      cwd: dir, timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), NO_COLOR: '1', SLIPWAY_URL: c.url, SLIPWAY_TOKEN: c.adminToken },
    }, (err, stdout, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}
const ok = async (args: string[]) => {
  const r = await slipway(args);
  assert.equal(r.code, 0, `slipway ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

async function certFiles(name: string, cn: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await execFileP('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`, '-keyout', key, '-out', cert]);
  return { cert, key };
}

before(async () => {
  redis = await startTestRedis();
  scheduler = createSchedulerClient({ redisUrl: redis.url, keyPrefix: redis.prefix('l0') });
  const keyPrefix = redis.prefix('ctl');
  deploy = createDeploy({ redis: redis.url, keyPrefix, scheduler });
  c = await startTestController({ redis, keyPrefix, deploy: { deploy, scheduler }, router: { domain: 'localhost', httpPort: 18080, notReady: () => (routerUp ? null : 'the router is not serving yet') } });
});
after(async () => {
  await c?.close();
  await deploy?.close();
  scheduler?.close();
  await redis?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('slipway CLI: the router', { timeout: 120_000 }, () => {
  it('/readyz waits for the router', async () => {
    const before = await c.request('GET', '/readyz');
    assert.equal(before.status, 503);
    assert.equal(before.body.error.message, 'the router is not serving yet');
    routerUp = true;
    assert.equal((await c.request('GET', '/readyz')).status, 200);
  });

  it('maintenance, certificates, path routes, settings and open', async () => {
    await ok(['apps:create', 'clirt', '--no-remote']);
    assert.match(await ok(['maintenance', '-a', 'clirt']), /clirt: maintenance off/);
    assert.match(await ok(['maintenance:on', '-a', 'clirt']), /maintenance mode on for clirt/);
    assert.deepEqual(JSON.parse(await ok(['maintenance', '-a', 'clirt', '--json'])), { app: 'clirt', maintenance: true });
    assert.match(await ok(['maintenance:off', '-a', 'clirt']), /maintenance mode off for clirt/);
    assert.equal(JSON.parse(await ok(['maintenance', '-a', 'clirt', '--json'])).maintenance, false);

    const a = await certFiles('a', 'cli.example.com');
    const b = await certFiles('b', 'other.example.com');
    const added = await ok(['certs:add', a.cert, a.key, '-a', 'clirt']);
    assert.match(added, /added certificate cert_\w+ to clirt/);
    assert.match(added, /names\s+cli\.example\.com/);
    assert.match(added, /fingerprint\s+([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    const bad = await slipway(['certs:add', a.cert, b.key, '-a', 'clirt']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /key: does not match the certificate/);
    const missing = await slipway(['certs:add', join(dir, 'nope.crt'), a.key, '-a', 'clirt']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read the certificate file .*nope\.crt: ENOENT/);
    const certs = JSON.parse(await ok(['certs', '-a', 'clirt', '--json'])) as { id: string; names: string[] }[];
    assert.equal(certs.length, 1);
    assert.deepEqual(certs[0]!.names, ['cli.example.com']);
    assert.ok(!JSON.stringify(certs).includes('PRIVATE KEY'));
    assert.match(await ok(['certs', '-a', 'clirt']), /^ID\s+NAMES\s+EXPIRES/m);
    assert.match(await ok(['certs:remove', certs[0]!.id, '-a', 'clirt']), /removed certificate/);
    assert.match(await ok(['certs', '-a', 'clirt']), /no certificates/);

    assert.match(await ok(['routes:add', 'clirt.localhost/api', '-a', 'clirt']), /routed clirt\.localhost\/api to clirt/);
    const routes = JSON.parse(await ok(['routes', '-a', 'clirt', '--json'])) as { id: string; host: string; path: string }[];
    assert.deepEqual(routes.map((r) => `${r.host}${r.path}`), ['clirt.localhost/api']);
    const unknown = await slipway(['routes:add', 'nobody.example.com/x', '-a', 'clirt']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no app answers on nobody\.example\.com/);
    assert.match(await ok(['routes:remove', routes[0]!.id, '-a', 'clirt']), /removed path route/);

    assert.match(await ok(['apps:settings', '-a', 'clirt']), /httpsRedirect\s+false/);
    assert.match(await ok(['apps:settings:set', 'httpsRedirect=true', '-a', 'clirt']), /httpsRedirect=true/);
    assert.equal(JSON.parse(await ok(['apps:settings', '-a', 'clirt', '--json'])).httpsRedirect, true);
    const badSetting = await slipway(['apps:settings:set', 'httpsRedirect=maybe', '-a', 'clirt']);
    assert.equal(badSetting.code, 1);
    assert.match(badSetting.stderr, /expected NAME=true\|false/);

    assert.equal((await ok(['open', '-a', 'clirt'])).trim(), 'http://clirt.localhost:18080/');
    assert.deepEqual(JSON.parse(await ok(['open', '-a', 'clirt', '--json'])), { url: 'http://clirt.localhost:18080/' });
  });
});
