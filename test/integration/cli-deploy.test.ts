// The `slipway` CLI driving rollouts on a real platform (controller, deploy core, scheduler,
// two agents, Redis): releases:create from an image, ps, ps:scale, config:set/unset/get,
// releases, rollback, ps:restart, a failing release explained with exit 1, domains.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const WEB = "sh -c 'httpd -f -p $PORT -h /'";
const dir = mkdtempSync(join(tmpdir(), 'slwt-clid-'));
let p: TestPlatform;

interface Out { code: number; stdout: string; stderr: string }
function slipway(args: string[]): Promise<Out> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], {
      cwd: dir, timeout: 120_000,
      env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), NO_COLOR: '1', SLIPWAY_URL: p.url, SLIPWAY_TOKEN: p.adminToken },
    }, (err, stdout, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}
const ok = async (args: string[]) => {
  const r = await slipway(args);
  assert.equal(r.code, 0, `slipway ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

before(async () => {
  p = await startTestPlatform({ deployOptions: { timeoutMs: 20_000, stableMs: 1000 } });
});
after(async () => {
  const leaks = await p.close();
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leaks, []);
});

describe('slipway CLI: deploys', { timeout: 240_000 }, () => {
  it('releases an image, shows processes, scales, sets config, rolls back, restarts', async () => {
    await ok(['apps:create', 'cli-shop']);
    const rel = await ok(['releases:create', '-a', 'cli-shop', '--image', 'bb:1', '--image-url', p.imageUrl, '--process', `web=${WEB}`]);
    assert.match(rel, /released cli-shop v1 — v1 succeeded/);
    const ps = await ok(['ps', '-a', 'cli-shop']);
    assert.match(ps, /^ID\s+TYPE\s+STATE/m);
    assert.match(ps, /web\s+running\s+v1/);
    await ok(['ps:scale', 'web=2', '-a', 'cli-shop']);
    const running = JSON.parse(await ok(['ps', '-a', 'cli-shop', '--json'])) as { state: string }[];
    assert.equal(running.filter((x) => x.state === 'running').length, 2);
    assert.match(await ok(['config:set', 'GREETING=hello', 'MODE=test', '-a', 'cli-shop']), /set GREETING, MODE on cli-shop \(v2\)/);
    assert.equal((await ok(['config:get', 'GREETING', '-a', 'cli-shop'])).trim(), 'hello');
    assert.match(await ok(['config', '-a', 'cli-shop', '--shell']), /^GREETING=hello$/m);
    await ok(['config:unset', 'MODE', '-a', 'cli-shop']);
    const releases = await ok(['releases', '-a', 'cli-shop']);
    assert.match(releases, /v3\s+deployed/);
    assert.match(await ok(['releases:rollback', 'v1', '-a', 'cli-shop']), /rolled back cli-shop \(v4\)/);
    const cfg = JSON.parse(await ok(['config', '-a', 'cli-shop', '--json'])) as Record<string, string>;
    assert.deepEqual(cfg, {});
    assert.match(await ok(['ps:restart', 'web', '-a', 'cli-shop']), /restarted web/);
    const info = await ok(['releases:info', 'v4', '-a', 'cli-shop']);
    assert.match(info, /version\s+v4/);
    const deps = await ok(['deployments', '-a', 'cli-shop']);
    assert.match(deps, /succeeded/);
  });

  it('a release that crashes fails with the reason and exit 1; the old release keeps serving', async () => {
    const r = await slipway(['releases:create', '-a', 'cli-shop', '--image', 'bb:1', '--process', "web=sh -c 'echo boom; exit 1'"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /failed: crashed/);
    assert.match(r.stderr, /boom/);
    const ps = JSON.parse(await ok(['ps', '-a', 'cli-shop', '--json'])) as { state: string; release: string }[];
    assert.ok(ps.some((x) => x.state === 'running' && x.release === 'v4'), JSON.stringify(ps));
    assert.match(await ok(['releases', '-a', 'cli-shop']), /v5\s+failed/);
  });

  it('domains and clear errors', async () => {
    assert.match(await ok(['domains:add', 'shop.example.com', '-a', 'cli-shop']), /added shop\.example\.com/);
    assert.match(await ok(['domains', '-a', 'cli-shop']), /shop\.example\.com/);
    await ok(['domains:remove', 'shop.example.com', '-a', 'cli-shop']);
    const bad = await slipway(['ps:scale', 'web=lots', '-a', 'cli-shop']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /expected TYPE=COUNT/);
    const missing = await slipway(['ps', '-a', 'no-such-app']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such-app/);
    await ok(['apps:destroy', 'cli-shop', '--confirm', 'cli-shop']);
  });
});
