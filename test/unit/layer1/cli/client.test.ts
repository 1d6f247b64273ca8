import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { forgetConfig, loadConfig, saveConfig } from '../../../../layer1/cli/client/config.ts';
import { appFromGitRemote, appFromRemoteUrl, remoteUrl, setGitRemote } from '../../../../layer1/cli/client/git-remote.ts';

const dir = mkdtempSync(join(tmpdir(), 'slwt-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('config: env wins, then the saved file (0600), then the admin token file for root', () => {
  const env = { XDG_CONFIG_HOME: join(dir, 'cfg'), SLIPWAY_HOME: join(dir, 'home') } as NodeJS.ProcessEnv;
  assert.deepEqual(loadConfig(env), { url: 'http://127.0.0.1:7000', token: null, source: 'none' });
  const file = saveConfig({ url: 'http://example.test:7000/', token: 'slw_saved' }, env);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(loadConfig(env), { url: 'http://example.test:7000', token: 'slw_saved', source: 'config' });
  assert.equal(loadConfig({ ...env, SLIPWAY_TOKEN: 'slw_env', SLIPWAY_URL: 'http://x:1' }).token, 'slw_env');
  assert.equal(forgetConfig(env), true);
  execFileSync('mkdir', ['-p', join(dir, 'home')]);
  writeFileSync(join(dir, 'home', 'admin-token'), 'slw_admin\n', { mode: 0o600 });
  const admin = loadConfig(env);
  assert.equal(admin.token, process.getuid?.() === 0 ? 'slw_admin' : null);
});

test('the app comes from the slipway git remote', () => {
  assert.equal(appFromRemoteUrl('http://git:tok@127.0.0.1:7000/git/my-app.git'), 'my-app');
  assert.equal(appFromRemoteUrl('http://host/other/path.git'), null);
  const url = remoteUrl('http://127.0.0.1:7000', 'my-app', 'slw_tok');
  assert.equal(url, 'http://git:slw_tok@127.0.0.1:7000/git/my-app.git');
  const repo = join(dir, 'repo');
  execFileSync('git', ['init', '-q', repo]);
  assert.equal(appFromGitRemote(repo), null);
  setGitRemote(url, repo);
  assert.equal(appFromGitRemote(repo), 'my-app');
  setGitRemote(remoteUrl('http://127.0.0.1:7000', 'other-app', 'slw_tok'), repo);
  assert.equal(appFromGitRemote(repo), 'other-app');
});
