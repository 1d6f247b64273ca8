// POST /v1/apps/:app/run on a whole in-process platform (Redis, two agents, the scheduler, the
// controller): output streamed as ndjson per stream in order with the exit code, the release's
// config and SLIPWAY_* in the env, a client that leaves or a timeout kills and removes the
// container (137), 409 without a release, 403 for view, and `slipway run` exiting with its code.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectAgent } from '../../layer0/agent/client.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { until } from '../helpers/wait.ts';

const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const WEB = "sh -c 'httpd -f -p $PORT -h /'";
const dir = mkdtempSync(join(tmpdir(), 'slwt-run-'));
let p: TestPlatform;
let admin = '';
let viewer = '';

type Line = { stream?: 'stdout' | 'stderr'; data?: string; exitCode?: number; reason?: string; message?: string; error?: unknown };
interface Run {
  req: ClientRequest;
  res: Promise<IncomingMessage>;
  lines: Line[];
  /** Every line, once the body ended. */
  done: Promise<Line[]>;
}

/** A streaming POST …/run: lines as they arrive. */
function startRun(app: string, body: unknown, token = admin): Run {
  const lines: Line[] = [];
  const req = request(`${p.url}/v1/apps/${app}/run`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  const res = new Promise<IncomingMessage>((ok, fail) => {
    req.on('response', ok);
    req.on('error', fail);
  });
  const done = res.then((r) => new Promise<Line[]>((ok, fail) => {
    let buf = '';
    r.setEncoding('utf8');
    r.on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)) as Line);
        buf = buf.slice(nl + 1);
      }
    });
    r.on('end', () => ok(lines));
    r.on('error', fail);
  }));
  done.catch(() => undefined);
  req.end(JSON.stringify(body));
  return { req, res, lines, done };
}

const text = (lines: Line[], stream: 'stdout' | 'stderr') => lines.filter((l) => l.stream === stream).map((l) => l.data).join('');
const last = (lines: Line[]) => lines[lines.length - 1]!;

/** The one-off containers on every host, from the agents themselves. */
async function runContainers(): Promise<string[]> {
  const ids: string[] = [];
  for (const h of p.hosts) {
    const a = connectAgent({ socketPath: join(h.paths.run, 'agent.sock') });
    ids.push(...(await a.listContainers({ all: true, labels: ['slipway.type=run'] })).map((c) => c.Id));
  }
  return ids;
}

function slipway(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], {
      cwd: dir, timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), NO_COLOR: '1', SLIPWAY_URL: p.url, SLIPWAY_TOKEN: admin },
    }, (err, stdout, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

before(async () => {
  p = await startTestPlatform();
  admin = p.adminToken;
  assert.equal((await p.request('POST', '/v1/apps', { token: admin, body: { name: 'runner' } })).status, 201);
  viewer = await p.user('run-view', { app: 'runner', grant: 'view' });
});

after(async () => {
  const leaks = await p?.close();
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leaks ?? [], []);
});

describe('POST /v1/apps/:app/run', { timeout: 120_000 }, () => {
  it('refuses an app without a deployed release (409), a view token (403) and bad bodies (422)', async () => {
    const none = await p.request('POST', '/v1/apps/runner/run', { token: admin, body: { command: 'echo hi' } });
    assert.equal(none.status, 409, none.text);
    assert.equal(none.body.error.code, 'conflict');
    const view = await p.request('POST', '/v1/apps/runner/run', { token: viewer, body: { command: 'echo hi' } });
    assert.equal(view.status, 403, view.text);
    for (const body of [{}, { command: '' }, { command: 'x'.repeat(4097) }, { command: 'true', env: { PORT: '1' } }, { command: 'true', env: { SLIPWAY_X: '1' } }, { command: 'true', timeoutSec: 0 }, { command: 'true', timeoutSec: 3601 }, { command: 'true', memory: 'lots' }, { command: 'true', tty: true }]) {
      const r = await p.request('POST', '/v1/apps/runner/run', { token: admin, body });
      assert.equal(r.status, 422, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
    }
  });

  it('streams both streams in order and ends with the exit code', async () => {
    const rel = await p.request('POST', '/v1/apps/runner/releases?wait=true', { token: admin, body: { image: 'bb:1', imageUrl: p.imageUrl, procfile: { web: WEB } } });
    assert.equal(rel.status, 201, rel.text);
    assert.equal(rel.body.deployment.state, 'succeeded');
    const cfg = await p.request('PATCH', '/v1/apps/runner/config?wait=true', { token: admin, body: { GREETING: 'hello there' } });
    assert.equal(cfg.status, 200, cfg.text);
    assert.equal(cfg.body.deployment.state, 'succeeded');

    const r = startRun('runner', { command: 'echo hi; echo err >&2; echo two; echo err2 >&2; exit 3' });
    const res = await r.res;
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/x-ndjson/);
    const lines = await r.done;
    assert.equal(text(lines, 'stdout'), 'hi\ntwo\n');
    assert.equal(text(lines, 'stderr'), 'err\nerr2\n');
    assert.deepEqual(last(lines), { exitCode: 3 });
    assert.equal(lines.filter((l) => 'exitCode' in l).length, 1);
    await until('the finished run removed', async () => (await runContainers()).length === 0, 5000);
  });

  it("runs with the release's config, SLIPWAY_APP, SLIPWAY_RELEASE, DYNO, the extra env and no PORT", async () => {
    const lines = await startRun('runner', { command: 'echo "$GREETING|$SLIPWAY_APP|$SLIPWAY_RELEASE|$DYNO|${PORT-unset}|$EXTRA"', env: { EXTRA: 'x y' }, memory: '128M' }).done;
    assert.deepEqual(last(lines), { exitCode: 0 });
    const [greeting, appName, release, dyno, port, extra] = text(lines, 'stdout').trim().split('|');
    assert.equal(greeting, 'hello there');
    assert.equal(appName, 'runner');
    assert.equal(release, 'v2');
    assert.match(dyno!, /^run\.\d+$/);
    assert.equal(port, 'unset');
    assert.equal(extra, 'x y');
  });

  it('a client that disconnects mid-run leaves no container behind', async () => {
    const r = startRun('runner', { command: 'echo started; sleep 30' });
    await until('the run started', () => r.lines.some((l) => l.data === 'started\n'), 20_000, 50);
    assert.equal((await runContainers()).length, 1);
    r.req.destroy();
    const t0 = Date.now();
    await until('the one-off container gone', async () => (await runContainers()).length === 0, 5000);
    assert.ok(Date.now() - t0 < 5000);
  });

  it('a run over its timeout is killed with 137 and says why', async () => {
    const t0 = Date.now();
    const lines = await startRun('runner', { command: 'sleep 30', timeoutSec: 1 }).done;
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    const end = last(lines);
    assert.equal(end.exitCode, 137);
    assert.equal(end.reason, 'timeout');
    assert.match(end.message ?? '', /1 s timeout/);
    await until('the killed container gone', async () => (await runContainers()).length === 0, 5000);
  });

  it('the run is audited', async () => {
    const audit = await p.request('GET', '/v1/audit?limit=500', { token: admin });
    assert.equal(audit.status, 200, audit.text);
    assert.ok(audit.body.items.some((e: { route: string; status: number }) => e.route === '/v1/apps/:app/run' && e.status === 200), 'a run in the audit log');
  });

  it('the OpenAPI document has the route', async () => {
    const doc = await p.request('GET', '/v1/openapi.json');
    const op = doc.body.paths['/v1/apps/{app}/run']?.post;
    assert.ok(op, 'POST /v1/apps/{app}/run documented');
    assert.ok(op.responses['409'] && op.responses['403']);
  });

  it('slipway run prints the output and exits with its code', async () => {
    const r = await slipway(['run', '-a', 'runner', '--', 'sh', '-c', 'echo out; echo oops >&2; exit 5']);
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'oops\n');
    const json = await slipway(['run', '-a', 'runner', '--json', '--', 'echo hi']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(json.stdout.trim().split('\n').map((l) => JSON.parse(l)), [{ stream: 'stdout', data: 'hi\n' }, { exitCode: 0 }]);
    const timedOut = await slipway(['run', '-a', 'runner', '--timeout', '1', '--', 'sleep 30']);
    assert.equal(timedOut.code, 137);
    assert.match(timedOut.stderr, /timeout/);
    const view = await slipway(['run', '-a', 'no-such-app', '--', 'true']);
    assert.equal(view.code, 1);
    assert.match(view.stderr, /no-such-app/);
    await until('no one-off container left', async () => (await runContainers()).length === 0, 5000);
  });
});
