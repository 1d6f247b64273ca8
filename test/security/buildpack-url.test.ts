// C1 (issue 13): a tenant's BUILDPACK_URL must not read the builder host's files or repositories.
// Refused before anything is fetched: a ref that is a git option (`--pathspec-from-file=<secret>`
// printed the file into the pusher's error), refs with spaces or a leading `-`, file:// URLs and
// bare host paths (other apps' repositories), ext:: / git:// / ssh:// / scp-style addresses, and
// http:// to a host the operator has not allowed. A fetch that fails says a short reason, never
// git's stderr. A real fetch over smart HTTP from loopback (allowed via the policy / the operator's
// SLIPWAY_URL_ALLOW) still works, for a branch, a tag and the default branch, within a size cap.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { urlPolicy } from '../../layer0/common/url-policy.ts';
import { cloneBuildpack, isRemoteBuildpack } from '../../layer1/builder/buildpack-source.ts';
import { serveGitRepos, type GitHttpServer } from '../helpers/git-http.ts';

const dir = mkdtempSync(join(tmpdir(), 'slwt-bpurl-'));
const secretFile = join(dir, 'admin-token');
const SECRET = `slw_secret_${randomBytes(8).toString('hex')}`;
let server: GitHttpServer;
/** The operator allows the test's loopback server (as SLIPWAY_URL_ALLOW=127.0.0.1 would). */
const allowLoopback = urlPolicy(['https', 'http'], '127.0.0.1');
const noAllow = urlPolicy(['https', 'http'], '');

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } }).toString().trim();
}

/** A bare repo `<name>.git` under the served root with a buildpack in it, a `v1` tag and a `next` branch. */
function makePack(name: string, extra: Record<string, Buffer | string> = {}): string {
  const work = join(dir, 'work', name);
  mkdirSync(join(work, 'bin'), { recursive: true });
  writeFileSync(join(work, 'bin', 'detect'), '#!/bin/sh\necho Test\n', { mode: 0o755 });
  writeFileSync(join(work, 'bin', 'compile'), '#!/bin/sh\necho compiled\n', { mode: 0o755 });
  writeFileSync(join(work, 'VERSION'), 'main\n');
  for (const [f, body] of Object.entries(extra)) writeFileSync(join(work, f), body);
  git(work, 'init', '-q');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'one');
  git(work, 'tag', 'v1');
  git(work, 'checkout', '-q', '-b', 'next');
  writeFileSync(join(work, 'VERSION'), 'next\n');
  git(work, 'commit', '-q', '-am', 'two');
  git(work, 'checkout', '-q', 'main');
  const bare = join(dir, 'repos', `${name}.git`);
  mkdirSync(join(dir, 'repos'), { recursive: true });
  git(dir, 'clone', '-q', '--bare', work, bare);
  return bare;
}

function clonesLeft(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('slipway-buildpack-'));
}

before(async () => {
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  makePack('pack');
  makePack('big', { 'blob.bin': randomBytes(512 * 1024) });
  server = await serveGitRepos(join(dir, 'repos'));
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Asserts the clone is refused before any request reaches the server, and returns the message. */
async function refused(url: string, policy = allowLoopback, why: RegExp): Promise<string> {
  const before = server.requests.length;
  let message = '';
  await assert.rejects(cloneBuildpack(url, { policy }), (err: Error & { code?: string }) => {
    message = err.message;
    return err.code === 'unprocessable' && why.test(err.message);
  }, `${url} must be refused with ${why}`);
  assert.equal(server.requests.length, before, `nothing fetched for ${url}`);
  assert.ok(!message.includes(SECRET), 'the secret never reaches the message');
  return message;
}

describe('BUILDPACK_URL fetch (C1)', { timeout: 120_000 }, () => {
  it('a ref that is a git option (--pathspec-from-file=<secret>) is refused and the file is never read', async () => {
    await refused(`${server.url}/pack.git#--pathspec-from-file=${secretFile}`, allowLoopback, /ref/);
    await refused(`${server.url}/pack.git#-q`, allowLoopback, /ref/);
    await refused(`${server.url}/pack.git#main branch`, allowLoopback, /ref/);
    await refused(`${server.url}/pack.git#main..next`, allowLoopback, /ref/);
    await refused(`${server.url}/pack.git#main\n--upload-pack=touch`, allowLoopback, /ref/);
    assert.deepEqual(clonesLeft(), []);
  });

  it('file:// URLs, bare host paths and other schemes (ext::, git://, ssh://, scp-style) are refused', async () => {
    const repo = join(dir, 'repos', 'pack.git');
    await refused(`file://${repo}`, allowLoopback, /https:\/\//);
    await refused(`file://${repo}#main`, allowLoopback, /https:\/\//);
    await refused(repo, allowLoopback, /https:\/\//);
    await refused(`${repo}#main`, allowLoopback, /https:\/\//);
    const marker = join(dir, 'ext-ran');
    await refused(`ext::sh -c touch% ${marker}`, allowLoopback, /https:\/\//);
    await refused(`ext::sh -c touch% ${marker}#x.git`, allowLoopback, /https:\/\//);
    assert.ok(!existsSync(marker), 'ext:: never ran a command');
    await refused('git://127.0.0.1/pack.git', allowLoopback, /https:\/\//);
    await refused('ssh://git@127.0.0.1/pack.git', allowLoopback, /https:\/\//);
    await refused('git@127.0.0.1:pack.git', allowLoopback, /https:\/\//);
    await refused('fd::3', allowLoopback, /https:\/\//);
    for (const u of [repo, `file://${repo}`, 'ext::sh', 'git@h:x', 'https://h/x']) assert.ok(isRemoteBuildpack(u), `${u} is treated as remote`);
    for (const u of ['nodejs', '.', './tools/pack', '/slipway/buildpacks/python']) assert.ok(!isRemoteBuildpack(u), `${u} is a name or a container path`);
  });

  it('http:// to a host the operator did not allow, and https:// to loopback or private addresses, are refused', async () => {
    await refused(`${server.url}/pack.git`, noAllow, /http:\/\/ only to hosts the operator allows|private/);
    await refused(`http://127.0.0.2:${server.port}/pack.git`, allowLoopback, /operator|private/);
    await refused(`https://127.0.0.1:${server.port}/pack.git`, noAllow, /private/);
    await refused('https://10.1.2.3/pack.git', noAllow, /private/);
    await refused('https://169.254.169.254/pack.git', noAllow, /private/);
    await refused(`http://user:pw@127.0.0.1:${server.port}/pack.git`, allowLoopback, /credentials/);
  });

  it('an allowed URL is fetched (default branch, a branch, a tag) without its .git; a failure says a short reason, not git\'s output', async () => {
    const saved = process.env.SLIPWAY_URL_ALLOW;
    process.env.SLIPWAY_URL_ALLOW = '127.0.0.1';
    try {
      for (const [ref, version] of [['', 'main'], ['#next', 'next'], ['#v1', 'main']] as const) {
        const pack = await cloneBuildpack(`${server.url}/pack.git${ref}`); // the operator's policy from the env
        try {
          assert.equal(readFileSync(join(pack.dir, 'VERSION'), 'utf8'), `${version}\n`);
          assert.ok(existsSync(join(pack.dir, 'bin', 'compile')));
          assert.ok(!existsSync(join(pack.dir, '.git')), 'no .git in the bound copy');
        } finally {
          await pack.remove();
        }
      }
    } finally {
      if (saved === undefined) delete process.env.SLIPWAY_URL_ALLOW;
      else process.env.SLIPWAY_URL_ALLOW = saved;
    }
    await assert.rejects(cloneBuildpack(`${server.url}/pack.git#no-such-ref`, { policy: allowLoopback }), (err: Error) => {
      assert.match(err.message, /^could not fetch the buildpack http:\/\/127\.0\.0\.1:\d+\/pack\.git#no-such-ref: that ref does not exist/);
      assert.doesNotMatch(err.message, /fatal|error:|remote:/i);
      return true;
    });
    await assert.rejects(cloneBuildpack(`${server.url}/missing.git`, { policy: allowLoopback }), /could not fetch the buildpack .*: (there is no repository|git failed)/);
    await assert.rejects(cloneBuildpack(`${server.url}/big.git`, { policy: allowLoopback, maxBytes: 64 * 1024 }), /could not fetch the buildpack .*: it is (larger than|too large)/);
    assert.deepEqual(clonesLeft(), [], 'every temp clone is removed');
  });
});
