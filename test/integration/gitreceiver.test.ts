// The git receiver with the real git client against a real controller (Redis, tokens, roles):
// auth on every request, the push's output streamed as `remote:` lines, the ref updated only
// when the pipeline succeeds, other branches refused, one push at a time per app, Ctrl-C
// cancels, clone works for viewers, and a deleted app's repo goes with it. The pipeline here is
// a small real one that reads the pushed tree (the builder's is tested on its own).
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extract } from 'tar';
import type { PushPipeline, PushRequest } from '../../layer1/gitreceiver/types.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';

const tag = process.env.SLIPWAY_TEST_PREFIX ?? 'slwt';
const work = mkdtempSync(join(tmpdir(), `${tag}-git-`));
let c: TestController;
let deployToken = '';
let viewToken = '';
const seen: { sha: string; files: string[]; user: string }[] = [];
/** Pushes whose pipeline is held until released (for the waiting and Ctrl-C tests). */
const holds = new Map<string, { release(): void; cancelled: boolean }>();

/** Extracts the pushed tree, says what it found, and fails when the tree has a FAIL file. */
const pipeline: PushPipeline = {
  async deploy(p: PushRequest) {
    const dir = mkdtempSync(join(work, 'tree-'));
    try {
      await new Promise<void>((resolve, reject) => {
        const x = extract({ cwd: dir });
        p.archive().on('error', reject).pipe(x).on('finish', resolve).on('error', reject);
      });
      const files = execFileSync('find', ['.', '-type', 'f'], { cwd: dir, encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => f.slice(2)).sort();
      p.say(`-----> Building ${p.app.name} ${p.sha.slice(0, 7)} (${files.length} files)`);
      if (files.includes('HOLD')) {
        const h = { release: () => undefined as void, cancelled: false };
        const released = new Promise<void>((r) => (h.release = r));
        holds.set(p.sha, h);
        p.say('       holding');
        await Promise.race([released, new Promise<void>((_, rej) => p.signal.addEventListener('abort', () => {
          h.cancelled = true;
          rej(new Error('cancelled'));
        }, { once: true }))]);
      }
      if (files.includes('FAIL')) throw new Error('compile failed: FAIL present\nfix the app and push again');
      seen.push({ sha: p.sha, files, user: p.user.name });
      return { summary: `-----> ${p.app.name} deployed ${p.sha.slice(0, 7)}` };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

function git(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; out: string; child: ReturnType<typeof spawn>; done: Promise<void> } {
  // Its own process group, so a Ctrl-C can reach git and its remote helper together, as a terminal's does.
  const child = spawn('git', args, { cwd, detached: true, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const r = { code: -1, out: '', child, done: Promise.resolve() };
  child.stdout!.on('data', (d: Buffer) => (r.out += d));
  child.stderr!.on('data', (d: Buffer) => (r.out += d));
  r.done = new Promise((resolve) => child.on('close', (code) => {
    r.code = code ?? -1;
    resolve();
  }));
  return r;
}
async function run(cwd: string, args: string[]) {
  const r = git(cwd, args);
  await r.done;
  return r;
}
const remote = (token: string, app = 'shop') => `http://git:${token}@127.0.0.1:${c.port}/git/${app}.git`;

function newRepo(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  execFileSync('git', ['init', '-q', '-b', 'main', dir]);
  for (const [f, body] of Object.entries(files)) writeFileSync(join(dir, f), body);
  execFileSync('git', ['-C', dir, 'add', '-A']);
  execFileSync('git', ['-C', dir, '-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-qm', 'init']);
  return dir;
}
const commit = (dir: string, f: string, body: string) => {
  writeFileSync(join(dir, f), body);
  execFileSync('git', ['-C', dir, 'add', '-A']);
  execFileSync('git', ['-C', dir, '-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-qm', `add ${f}`]);
  return execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
};
const head = (app: string, ref = 'refs/heads/main') => {
  const id = c.controller.git!.repos.path(appIdOf(app));
  try {
    return execFileSync('git', ['--git-dir', id, 'rev-parse', '--verify', '-q', ref], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
};
const ids = new Map<string, string>();
const appIdOf = (name: string) => ids.get(name)!;

before(async () => {
  c = await startTestController({ git: { dir: join(work, 'repos'), hookSocket: join(work, 'hook.sock'), pipeline } });
  for (const name of ['shop', 'other']) {
    const r = await c.request('POST', '/v1/apps', { token: c.adminToken, body: { name } });
    assert.equal(r.status, 201, r.text);
    ids.set(name, r.body.id);
  }
  deployToken = await c.user('dee', { app: 'shop', grant: 'deploy' });
  viewToken = await c.user('vic', { app: 'shop', grant: 'view' });
});

after(async () => {
  await c.close();
  rmSync(work, { recursive: true, force: true });
});

describe('git receiver', { timeout: 120_000 }, () => {
  it('a push runs the pipeline inside the push, streams its lines, and updates the ref once it succeeded', async () => {
    const dir = newRepo('app1', { 'index.js': 'hi', 'package.json': '{}' });
    const sha = execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const r = await run(dir, ['push', remote(deployToken), 'main']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /remote: -----> Building shop [0-9a-f]{7} \(2 files\)/);
    assert.match(r.out, /remote: -----> shop deployed/);
    assert.equal(head('shop'), sha);
    assert.deepEqual(seen.at(-1), { sha, files: ['index.js', 'package.json'], user: 'dee' });
  });

  it('a failing pipeline refuses the push: non-zero exit, the reason shown, the ref unchanged', async () => {
    const dir = join(work, 'app1');
    const before = head('shop');
    commit(dir, 'FAIL', 'x');
    const r = await run(dir, ['push', remote(deployToken), 'main']);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /remote: !\s+compile failed: FAIL present/);
    assert.match(r.out, /remote: !\s+fix the app and push again/);
    assert.match(r.out, /pre-receive hook declined/);
    assert.equal(head('shop'), before);
    execFileSync('git', ['-C', dir, 'rm', '-q', 'FAIL']);
    execFileSync('git', ['-C', dir, '-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-qm', 'unfail']);
  });

  it('other branches and tags are refused with a clear message; master deploys', async () => {
    const dir = join(work, 'app1');
    const r = await run(dir, ['push', remote(deployToken), 'main:feature']);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /deploys pushes to main or master only; refused: feature/);
    assert.match(r.out, /git push slipway <branch>:main/);
    assert.equal(head('shop', 'refs/heads/feature'), null);
    const m = await run(dir, ['push', remote(deployToken), 'main:master']);
    assert.equal(m.code, 0, m.out);
  });

  it('auth: no token 401, a bad token 401, a viewer cannot push (403) but can clone, a stranger sees 404', async () => {
    const dir = join(work, 'app1');
    const anon = await fetch(`http://127.0.0.1:${c.port}/git/shop.git/info/refs?service=git-receive-pack`);
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate') ?? '', /Basic/);
    await anon.arrayBuffer();
    // node-git-server does not check a POST by itself: the receiver must.
    const post = await fetch(`http://127.0.0.1:${c.port}/git/shop.git/git-receive-pack`, { method: 'POST', body: '0000' });
    assert.equal(post.status, 401);
    await post.arrayBuffer();
    const bad = await run(dir, ['push', remote('slw_nope'), 'main']);
    assert.notEqual(bad.code, 0);
    const viewer = await run(dir, ['push', remote(viewToken), 'main']);
    assert.notEqual(viewer.code, 0);
    assert.match(viewer.out, /403|needs the deploy role/);
    const clone = await run(work, ['clone', '-q', remote(viewToken), join(work, 'cloned')]);
    assert.equal(clone.code, 0, clone.out);
    assert.ok(existsSync(join(work, 'cloned', 'index.js')));
    const stranger = await run(dir, ['push', remote(deployToken, 'other'), 'main']);
    assert.notEqual(stranger.code, 0);
    assert.match(stranger.out, /404|not found/i);
    const junk = await fetch(`http://127.0.0.1:${c.port}/git/..%2f..%2fetc.git/info/refs?service=git-upload-pack`);
    assert.equal(junk.status, 404);
    await junk.arrayBuffer();
  });

  it('one push at a time per app: a second push is told it waits; once the first moved the branch it is refused without building', async () => {
    const dir = join(work, 'app1');
    const sha = commit(dir, 'HOLD', 'x');
    const first = git(dir, ['push', remote(c.adminToken), 'main']);
    await waitFor(() => holds.has(sha));
    const other = newRepo('app2', { 'b.txt': 'b' });
    const second = git(other, ['push', '--force', remote(c.adminToken), 'main']);
    await waitFor(() => /waiting for it/.test(second.out));
    const builds = seen.length;
    holds.get(sha)!.release();
    await first.done;
    assert.equal(first.code, 0, first.out);
    await second.done;
    assert.notEqual(second.code, 0, second.out);
    assert.match(second.out, /main moved to [0-9a-f]{7} while this push waited; nothing was deployed/, second.out);
    assert.equal(seen.length, builds + 1, 'only the first push built');
    assert.equal(head('shop'), sha);
  });

  it('Ctrl-C on a push cancels its pipeline and leaves the ref alone', async () => {
    const dir = join(work, 'app1');
    // Never a sync git call against the in-process controller: it would block its event loop.
    assert.equal((await run(dir, ['fetch', '-q', remote(c.adminToken), 'main'])).code, 0);
    execFileSync('git', ['-C', dir, 'reset', '-q', '--hard', 'FETCH_HEAD']);
    const before = head('shop');
    const sha = commit(dir, 'HOLD', 'again');
    const push = git(dir, ['push', remote(c.adminToken), 'main']);
    await waitFor(() => holds.has(sha));
    process.kill(-push.child.pid!, 'SIGINT'); // the group we started: git and git-remote-http
    await push.done;
    await waitFor(() => holds.get(sha)!.cancelled, 10_000);
    assert.equal(head('shop'), before);
  });

  it('deleting the app removes its repository', async () => {
    const path = c.controller.git!.repos.path(appIdOf('shop'));
    assert.ok(existsSync(path));
    const r = await c.request('DELETE', '/v1/apps/shop', { token: c.adminToken });
    assert.ok(r.status < 300, r.text);
    assert.ok(!existsSync(path));
  });
});

async function waitFor(pred: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}
