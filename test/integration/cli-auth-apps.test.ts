// The `slipway` CLI (the real binary, as a user runs it) against a real controller and Redis:
// login/whoami/logout, apps and the git remote with a deploy token, access, users, tokens
// (shown once, --json), audit; clear errors and non-zero exits.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestController, type TestController } from '../helpers/controller.ts';

const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const dir = mkdtempSync(join(tmpdir(), 'slwt-cli-'));
let c: TestController;

interface Out { code: number; stdout: string; stderr: string }
function slipway(args: string[], env: NodeJS.ProcessEnv = {}, opts: { cwd?: string; input?: string } = {}): Promise<Out> {
  return new Promise((res) => {
    const child = execFile(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? dir,
      timeout: 30_000,
      env: { PATH: process.env.PATH, HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'cfg'), SLIPWAY_HOME: join(dir, 'nohome'), NO_COLOR: '1', SLIPWAY_URL: c.url, ...env },
    }, (err, stdout, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    child.stdin!.end(opts.input ?? '');
  });
}

before(async () => {
  c = await startTestController();
});
after(async () => {
  await c.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('slipway CLI: auth, apps, access, tokens', () => {
  it('fails clearly without a token, logs in from stdin, says who it is, logs out', async () => {
    const none = await slipway(['apps']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /not logged in: run `slipway login`/);
    const bad = await slipway(['login'], {}, { input: 'slw_wrong\n' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /slipway login|unauthorized|invalid/i);
    const login = await slipway(['login'], {}, { input: `${c.adminToken}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /logged in to .* as admin/);
    assert.equal(statSync(join(dir, 'cfg', 'slipway', 'config.json')).mode & 0o777, 0o600);
    const who = await slipway(['whoami', '--json']);
    assert.equal(JSON.parse(who.stdout).user.name, 'admin');
    assert.doesNotMatch(who.stdout, new RegExp(c.adminToken));
  });

  it('creates an app inside a git repo with a slipway remote holding a deploy token; lists, renames, destroys', async () => {
    const repo = join(dir, 'repo');
    await new Promise((r) => execFile('git', ['init', '-q', repo], r));
    const created = await slipway(['apps:create', 'cli-app', '--json'], {}, { cwd: repo });
    assert.equal(created.code, 0, created.stderr);
    assert.equal(JSON.parse(created.stdout).gitRemote, 'slipway');
    const remote = await new Promise<string>((r) => execFile('git', ['remote', 'get-url', 'slipway'], { cwd: repo }, (_e, out) => r(out.trim())));
    assert.match(remote, new RegExp(`^http://git:slw_[A-Za-z0-9_-]+@127\\.0\\.0\\.1:${c.port}/git/cli-app\\.git$`));
    const token = new URL(remote).password;
    const me = await c.request('GET', '/v1/whoami', { token });
    assert.equal(me.body.token.role, 'deploy');
    assert.equal(me.body.token.app, 'cli-app');
    // The app comes from the remote.
    const info = await slipway(['apps:info'], {}, { cwd: repo });
    assert.match(info.stdout, /name\s+cli-app/);
    const list = await slipway(['apps']);
    assert.match(list.stdout, /^NAME\s+CREATED\s+BY$/m);
    assert.match(list.stdout, /cli-app/);
    const renamed = await slipway(['apps:rename', 'cli-app2'], {}, { cwd: repo });
    assert.equal(renamed.code, 0, renamed.stderr);
    const remote2 = await new Promise<string>((r) => execFile('git', ['remote', 'get-url', 'slipway'], { cwd: repo }, (_e, out) => r(out.trim())));
    assert.match(remote2, /\/git\/cli-app2\.git$/);
    const noConfirm = await slipway(['apps:destroy'], {}, { cwd: repo });
    assert.equal(noConfirm.code, 1);
    assert.match(noConfirm.stderr, /--confirm cli-app2/);
    const destroyed = await slipway(['apps:destroy', '--confirm', 'cli-app2'], {}, { cwd: repo });
    assert.equal(destroyed.code, 0, destroyed.stderr);
    const gone = await slipway(['apps:info', '-a', 'cli-app2']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /cli-app2/);
  });

  it('manages users, access and tokens; a token is shown once and revoked at once', async () => {
    assert.equal((await slipway(['apps:create', 'shared-app'])).code, 0);
    const u = await slipway(['users:create', 'dev1']);
    assert.equal(u.code, 0, u.stderr);
    const add = await slipway(['access:add', 'dev1', '--role', 'deploy', '-a', 'shared-app']);
    assert.equal(add.code, 0, add.stderr);
    const acc = await slipway(["access", "-a", "shared-app"]);
    assert.equal(acc.code, 0, acc.stderr);
    assert.match(acc.stdout, /dev1\s+deploy/);
    const t = await slipway(['tokens:create', '--user', 'dev1', '--role', 'view', '-a', 'shared-app', '--json']);
    assert.equal(t.code, 0, t.stderr);
    const { token, id } = JSON.parse(t.stdout) as { token: string; id: string };
    assert.match(token, /^slw_/);
    const listed = await slipway(['tokens']);
    assert.match(listed.stdout, new RegExp(id));
    assert.doesNotMatch(listed.stdout, new RegExp(token));
    const asDev = await slipway(['apps'], { SLIPWAY_TOKEN: token });
    assert.match(asDev.stdout, /shared-app/);
    const denied = await slipway(['apps:destroy', 'shared-app', '--confirm', 'shared-app'], { SLIPWAY_TOKEN: token });
    assert.equal(denied.code, 1);
    assert.equal((await slipway(['tokens:revoke', id])).code, 0);
    const revoked = await slipway(['apps'], { SLIPWAY_TOKEN: token });
    assert.equal(revoked.code, 1);
    const audit = await slipway(['audit', '--json']);
    const entries = JSON.parse(audit.stdout) as { path: string }[];
    assert.ok(entries.some((e) => e.path.includes('/tokens/')));
    assert.doesNotMatch(audit.stdout, new RegExp(token));
    assert.equal((await slipway(['access:remove', 'dev1', '-a', 'shared-app'])).code, 0);
    // Nothing the CLI did put a secret into the controller's logs.
    assert.doesNotMatch(c.logs.join('\n'), new RegExp(`${token}|${c.adminToken}`));
    assert.doesNotMatch(readFileSync(join(dir, 'cfg', 'slipway', 'config.json'), 'utf8'), new RegExp(token));
  });

  it('logs out', async () => {
    const out = await slipway(['logout']);
    assert.match(out.stdout, /logged out/);
    assert.equal((await slipway(['apps'])).code, 1);
  });
});
