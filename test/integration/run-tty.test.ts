// The interactive run, GET /v1/apps/:app/run/attach over a WebSocket, on a whole in-process
// platform (Redis, two agents, the scheduler, the controller): a real TTY, a shell session with
// input and its exit code, resize, a client that leaves or a timeout removes the container, the
// same auth as every route (401, 404, 403, 422, 409), audit and OpenAPI; a slug's launcher used
// by both forms of run; then `slipway run` under a pseudo-terminal (script(1)), interactive end
// to end, resized by SIGWINCH.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, afterEach, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { connectAgent } from '../../layer0/agent/client.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { until } from '../helpers/wait.ts';

const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const WEB = "sh -c 'httpd -f -p $PORT -h /'";
const APP = 'ttyapp';
const dir = mkdtempSync(join(tmpdir(), 'slwt-run-tty-'));
const execFileP = promisify(execFile);
/** busybox ash's prompt, then its question for the cursor position (FEATURE_EDITING_ASK_TERMINAL). */
const PROMPT = /[#$] (\x1b\[6n)?$/;
/** Every session a test opened: closed after each test, so a failed one leaves nothing running. */
const opened = new Set<WebSocket>();
const ptys = new Set<ChildProcess>();
let p: TestPlatform;
let admin = '';
let viewer = '';
let outsider = '';

interface Session {
  ws: WebSocket;
  /** Everything the terminal printed so far. */
  out(): string;
  /** The last text frame and the close code, once closed. */
  ended: Promise<{ last: any; code: number }>;
  type(text: string): void;
  seen(re: RegExp, ms?: number): Promise<void>;
}

type Opened = { session: Session; status: 101 } | { status: number; body: any };

/** Opens GET …/run/attach as a WebSocket; a refused upgrade resolves with its HTTP answer. */
function attach(app: string, query: Record<string, string | string[]>, token: string | null = admin): Promise<Opened> {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const one of [v].flat()) qs.append(k, one);
  const ws = new WebSocket(`${p.url.replace(/^http/, 'ws')}/v1/apps/${app}/run/attach?${qs}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  opened.add(ws);
  let out = '';
  let last: any = null;
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary) out += data.toString('utf8');
    else last = JSON.parse(data.toString('utf8'));
  });
  const ended = new Promise<{ last: any; code: number }>((ok) => ws.once('close', (code) => ok({ last, code })));
  const session: Session = {
    ws,
    out: () => out,
    ended,
    type: (text) => ws.send(Buffer.from(text), { binary: true }),
    async seen(re, ms = 15_000) {
      await until(`${re} in the terminal`, () => re.test(out), ms, 20).catch((err: Error) => assert.fail(`${err.message}; got ${JSON.stringify(out)}`));
    },
  };
  return new Promise((ok, fail) => {
    ws.once('open', () => ok({ session, status: 101 }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    ws.once('error', (err) => fail(err));
  });
}

async function open(query: Record<string, string | string[]>): Promise<Session> {
  const r = await attach(APP, query);
  assert.equal(r.status, 101, JSON.stringify('body' in r ? r.body : null));
  return (r as { session: Session }).session;
}

/** The one-off containers on every host, from the agents themselves. */
async function runContainers(): Promise<string[]> {
  const ids: string[] = [];
  for (const h of p.hosts) {
    const a = connectAgent({ socketPath: join(h.paths.run, 'agent.sock') });
    ids.push(...(await a.listContainers({ all: true, labels: ['slipway.type=run'] })).map((c) => c.Id));
  }
  return ids;
}

const noneLeft = () => until('no one-off container left', async () => (await runContainers()).length === 0, 5000);

before(async () => {
  p = await startTestPlatform();
  admin = p.adminToken;
  for (const name of [APP, 'ttyempty']) assert.equal((await p.request('POST', '/v1/apps', { token: admin, body: { name } })).status, 201);
  viewer = await p.user('tty-view', { app: APP, grant: 'view' });
  outsider = await p.user('tty-outsider', { app: 'ttyempty', grant: 'deploy' });
  const rel = await p.request('POST', `/v1/apps/${APP}/releases?wait=true`, { token: admin, body: { image: 'bb:1', imageUrl: p.imageUrl, procfile: { web: WEB } } });
  assert.equal(rel.status, 201, rel.text);
  const cfg = await p.request('PATCH', `/v1/apps/${APP}/config?wait=true`, { token: admin, body: { GREETING: 'hello there' } });
  assert.equal(cfg.status, 200, cfg.text);
});

afterEach(() => {
  for (const ws of opened) ws.terminate();
  opened.clear();
  for (const c of ptys) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  ptys.clear();
});

after(async () => {
  const leaks = await p?.close();
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leaks ?? [], []);
});

describe('GET /v1/apps/:app/run/attach (WebSocket)', { timeout: 180_000 }, () => {
  it('runs the command with a TTY, the release config and DYNO, and ends with its exit code', async () => {
    const s = await open({ command: 'test -t 0 && test -t 1 && echo yes; echo "$GREETING|$DYNO|$TERM|$EXTRA"; exit 4', env: ['EXTRA=x y', 'TERM=vt100'] });
    const { last, code } = await s.ended;
    assert.deepEqual(last, { exitCode: 4 });
    assert.equal(code, 1000);
    // Output before runc has set both terminals up may carry an extra CR: compare without them.
    const lines = s.out().replace(/\r/g, '').split('\n');
    assert.ok(lines.includes('yes'), JSON.stringify(s.out()));
    const line = lines.find((l) => l.startsWith('hello there|'));
    assert.match(line ?? '', /^hello there\|run\.\d+\|vt100\|x y$/, s.out());
    await noneLeft();
  });

  it('an interactive shell: input in, output out, its exit code at the end', async () => {
    const s = await open({ command: 'sh' });
    await s.seen(PROMPT);
    s.type('echo $((6*7))\n');
    await s.seen(/^42\r*$/m);
    s.type('exit 3\n');
    const { last, code } = await s.ended;
    assert.deepEqual(last, { exitCode: 3 });
    assert.equal(code, 1000);
    await noneLeft();
  });

  it('sizes the terminal at start (cols, rows) and on a resize message (stty size)', async () => {
    const s = await open({ command: 'sh', cols: '100', rows: '30' });
    s.type('stty size\n');
    await s.seen(/^30 100\r*$/m);
    s.ws.send(JSON.stringify({ resize: { cols: 120, rows: 40 } }));
    // The shell is told by SIGWINCH; ask until the new size shows.
    await until('the new size', async () => {
      s.type('stty size\n');
      await new Promise((r) => setTimeout(r, 100));
      return /^40 120\r*$/m.test(s.out());
    }, 10_000, 0);
    s.ws.send('{"nonsense": true}'); // unknown control messages are ignored
    s.type('exit\n');
    assert.deepEqual((await s.ended).last, { exitCode: 0 });
    await noneLeft();
  });

  it('a client that disconnects mid-command leaves no container behind', async () => {
    const s = await open({ command: 'echo started; sleep 60' });
    await s.seen(/started/);
    assert.equal((await runContainers()).length, 1);
    s.ws.terminate();
    const t0 = Date.now();
    await noneLeft();
    assert.ok(Date.now() - t0 < 5000);
  });

  it('a session over its timeout is killed with 137 and says why', async () => {
    const t0 = Date.now();
    const s = await open({ command: 'sleep 60', timeoutSec: '1' });
    const { last } = await s.ended;
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    assert.equal(last.exitCode, 137);
    assert.equal(last.reason, 'timeout');
    assert.match(last.message, /1 s timeout/);
    await noneLeft();
  });

  it('the same auth as every route: 401, 404 (invisible or missing app), 403 (view), 422, 409', async () => {
    const q = { command: 'true' };
    const none = await attach(APP, q, null);
    assert.equal(none.status, 401);
    assert.equal((none as { body: any }).body.error.code, 'unauthorized');
    const bad = await attach(APP, q, `slw_${'x'.repeat(43)}`);
    assert.equal(bad.status, 401);
    for (const [app, token] of [[APP, outsider], ['no-such-app', admin]] as const) {
      const r = await attach(app, q, token);
      assert.equal(r.status, 404, `${app}`);
      assert.equal((r as { body: any }).body.error.code, 'app_not_found');
    }
    const view = await attach(APP, q, viewer);
    assert.equal(view.status, 403);
    assert.equal((view as { body: any }).body.error.code, 'forbidden');
    for (const query of [{}, { command: '' }, { command: 'true', cols: 'wide' }, { command: 'true', rows: '0' }, { command: 'true', env: 'NOEQUALS' }, { command: 'true', env: 'PORT=1' }, { command: 'true', timeoutSec: '3601' }, { command: 'true', memory: 'lots' }, { command: 'true', what: '1' }] as Record<string, string>[]) {
      const r = await attach(APP, query);
      assert.equal(r.status, 422, JSON.stringify(query));
      assert.equal((r as { body: any }).body.error.code, 'invalid_params');
    }
    // Not a WebSocket: a plain GET is refused before anything runs.
    const plain = await p.request('GET', `/v1/apps/${APP}/run/attach?command=true`, { token: admin });
    assert.equal(plain.status, 422, plain.text);
    assert.match(plain.body.error.message, /WebSocket/);
    const empty = await attach('ttyempty', q);
    assert.equal(empty.status, 409);
    assert.equal((empty as { body: any }).body.error.code, 'conflict');
    assert.deepEqual(await runContainers(), []);
  });

  it('sessions are audited, and the OpenAPI document describes the route and its messages', async () => {
    const audit = await p.request('GET', '/v1/audit?limit=500', { token: admin });
    assert.equal(audit.status, 200, audit.text);
    const entries = audit.body.items.filter((e: { route: string }) => e.route === '/v1/apps/:app/run/attach');
    assert.ok(entries.some((e: { status: number; app: string }) => e.status === 101 && e.app === APP), 'an upgraded session in the audit log');
    assert.ok(entries.some((e: { status: number }) => e.status === 403), 'a refused one too');
    const doc = await p.request('GET', '/v1/openapi.json');
    const op = doc.body.paths['/v1/apps/{app}/run/attach']?.get;
    assert.ok(op, 'GET /v1/apps/{app}/run/attach documented');
    assert.ok(op.responses['101'] && op.responses['409'] && op.responses['403'] && op.responses['404'] && op.responses['401']);
    assert.match(op.summary, /WebSocket/);
    assert.ok(op.parameters.some((x: { name: string; in: string }) => x.name === 'command' && x.in === 'query'));
    assert.ok(doc.body.components.schemas.RunTtyControl && doc.body.components.schemas.RunTtyEnd);
  });
});

/** `slipway ARGS` under a pseudo-terminal (script(1)), `cols`×`rows`; the test types into it. */
function underPty(args: string[], size = { cols: 80, rows: 24 }) {
  const cmd = ['stty', 'cols', String(size.cols), 'rows', String(size.rows), ';', 'exec', process.execPath, BIN, ...args]
    .map((a) => (a === ';' ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
  const child = spawn('script', ['-qefc', cmd, '/dev/null'], {
    cwd: dir, stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), NO_COLOR: '1', TERM: 'xterm', SLIPWAY_URL: p.url, SLIPWAY_TOKEN: admin },
  });
  ptys.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = new Promise<number>((ok) => child.on('close', (c) => ok(c ?? -1)));
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void code.then(() => clearTimeout(kill));
  return {
    child,
    out: () => out,
    code,
    type: (text: string) => child.stdin.write(text),
    seen: (re: RegExp) => until(`${re} from slipway`, () => re.test(out), 20_000, 20).catch((err: Error) => assert.fail(`${err.message}; got ${JSON.stringify(out)}`)),
    /** The pty slipway has as its terminal: script's child (slipway itself, after exec). */
    async resize(cols: number, rows: number) {
      const pid = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0];
      await execFileP('stty', ['-F', `/proc/${pid}/fd/0`, 'cols', String(cols), 'rows', String(rows)]);
    },
  };
}

describe("a slug's launcher", { timeout: 120_000 }, () => {
  it('both forms of run go through /app/.slipway/launch for a built release (.profile.d, cwd /app)', async () => {
    // A slug-like layer over busybox: a launcher that marks the environment, as the real one
    // (buildpacks/lib/launch) sources .profile.d before `bash -c`. A built release (one with a
    // `build`, as a push makes) runs its commands through it, as its formation does.
    const layer = join(dir, 'slug');
    mkdirSync(join(layer, 'app', '.slipway'), { recursive: true });
    writeFileSync(join(layer, 'app', '.slipway', 'launch'), '#!/bin/sh\nexport LAUNCHED=yes\ncd /app\nexec /bin/sh -c "$1"\n', { mode: 0o755 });
    await execFileP('tar', ['-C', layer, '-cf', join(dir, 'slug.tar'), 'app']);
    for (const h of p.hosts) {
      const a = connectAgent({ socketPath: join(h.paths.run, 'agent.sock') });
      await a.inspectImage('bb:1').catch(() => a.importImageFromUrl(p.imageUrl, { repo: 'bb', tag: '1' }));
      await a.importImage(createReadStream(join(dir, 'slug.tar')), { repo: 'bbslug', tag: '1', parent: 'bb:1' });
    }
    const created = await p.request('POST', '/v1/apps', { token: admin, body: { name: 'ttyslug' } });
    assert.equal(created.status, 201);
    const app = { id: created.body.id as string, name: 'ttyslug' };
    const rel = await p.deploy.createRelease(app, { image: 'bbslug:1', procfile: { web: WEB }, build: { id: 'b_test', commit: 'a'.repeat(40) }, createdBy: 'test' });
    assert.equal((await p.deploy.waitForDeployment(app, rel.deployment!.id, { timeoutMs: 60_000 })).state, 'succeeded');
    const r = await attach('ttyslug', { command: 'echo "launched=$LAUNCHED in $(pwd)"' });
    assert.equal(r.status, 101);
    const s = (r as { session: Session }).session;
    assert.deepEqual((await s.ended).last, { exitCode: 0 });
    assert.match(s.out(), /^launched=yes in \/app\r*$/m);
    const ndjson = await p.request('POST', '/v1/apps/ttyslug/run', { token: admin, body: { command: 'echo "launched=$LAUNCHED in $(pwd)"' } });
    assert.equal(ndjson.status, 200, ndjson.text);
    assert.match(ndjson.text, /"data":"launched=yes in \/app\\n"/);
    await noneLeft();
  });
});

describe('slipway run under a terminal', { timeout: 180_000 }, () => {
  it('is interactive: a shell session, its output, and its exit code', async () => {
    const t = underPty(['run', '-a', APP, '--', 'sh']);
    await t.seen(/[#$] /);
    t.type('echo $((6*7)); test -t 0 && echo tty-yes\n');
    await t.seen(/^42\r*$/m);
    await t.seen(/^tty-yes\r*$/m);
    t.type('exit 3\n');
    assert.equal(await t.code, 3, t.out());
    t.child.stdin.end();
    await noneLeft();
  });

  it('passes the terminal size at start and on SIGWINCH', async () => {
    const t = underPty(['run', '-a', APP, '--', 'sh'], { cols: 100, rows: 30 });
    await t.seen(/[#$] /);
    t.type('stty size\n');
    await t.seen(/^30 100\r*$/m);
    await t.resize(120, 40); // the kernel sends slipway SIGWINCH; it sends a resize message
    await until('the new size', async () => {
      t.type('stty size\n');
      await new Promise((r) => setTimeout(r, 100));
      return /^40 120\r*$/m.test(t.out());
    }, 10_000, 0);
    t.type('exit 0\n');
    assert.equal(await t.code, 0, t.out());
    t.child.stdin.end();
    await noneLeft();
  });

  it('--no-tty keeps the output stream (no TTY remotely), --tty works from a pipe, and a refused session exits 1 with the reason', async () => {
    const t = underPty(['run', '-a', APP, '--no-tty', '--', 'test -t 0 && echo remote-tty || echo remote-no-tty; exit 6']);
    assert.equal(await t.code, 6, t.out());
    assert.match(t.out(), /remote-no-tty/);
    t.child.stdin.end();
    // --tty with a pipe for stdin: the remote terminal still runs it, and the pipe's end is a Ctrl-D.
    const piped = await new Promise<{ code: number | null; out: string }>((ok) => {
      const c = execFile(process.execPath, [BIN, 'run', '-a', APP, '--tty', '--', 'sh'], {
        cwd: dir, timeout: 60_000, env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), SLIPWAY_URL: p.url, SLIPWAY_TOKEN: admin },
      }, (err, stdout, stderr) => ok({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout + stderr }));
      c.stdin!.end('test -t 0 && echo piped-tty; exit 2\n');
    });
    assert.equal(piped.code, 2, piped.out);
    assert.match(piped.out, /^piped-tty\r*$/m);
    const refused = underPty(['run', '-a', 'ttyempty', '--', 'sh']);
    assert.equal(await refused.code, 1, refused.out());
    assert.match(refused.out(), /no deployed release/);
    refused.child.stdin.end();
    await noneLeft();
  });
});
