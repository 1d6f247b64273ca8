// The host agent driven by the real docker CLI (28.2.2) over its unix socket: version, info,
// import, run (rc, --rm, -d with a published port), ps, port, logs -f, inspect, exec, cp,
// stop/restart/wait/rm, rmi, an unknown image, bad input; the stack import; nothing leaks.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ensureStack } from '../../deploy/stack.ts';
import { startTestAgent, type TestAgent } from '../helpers/agent.ts';
import { evilTar, tarBuffer } from '../helpers/fixtures.ts';
import { httpGet, retry } from '../helpers/http.ts';

const execFileP = promisify(execFile);
let a: TestAgent;
const IMG = 'bb:1';


async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await execFileP('curl', ['-s', '-m', '10', '--unix-socket', a.socketPath, '-w', '\n%{http_code}', ...args]);
  const i = stdout.lastIndexOf('\n');
  return { body: stdout.slice(0, i), status: Number(stdout.slice(i + 1)) };
}

async function ok(args: string[], timeoutMs?: number): Promise<string> {
  const r = await a.docker(args, { timeoutMs });
  assert.equal(r.code, 0, `docker ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r.stdout;
}

describe('docker CLI against the agent', () => {
  before(async () => {
    a = await startTestAgent({ suffix: 'c' });
  });
  after(async () => {
    await a.cleanup();
  });

  it('answers version and info', async () => {
    const v = await ok(['version']);
    assert.match(v, /API version:\s+1\.50 \(minimum version 1\.24\)/);
    assert.match(v, /runc:/);
    const info = await ok(['info']);
    assert.match(info, /Cgroup Version: 1/);
    assert.match(info, /OSType: linux/);
  });

  it('imports a busybox tar and lists it', async () => {
    const out = await ok(['import', a.busyboxTar, IMG]);
    assert.match(out.trim(), /^sha256:[0-9a-f]{64}$/);
    const images = await ok(['images']);
    assert.match(images, /^bb\s+1\s+[0-9a-f]{12}\s/m);
  });

  it('runs --rm echo hi, and passes the exit code through', async () => {
    const r = await a.docker(['run', '--rm', IMG, 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    const r7 = await a.docker(['run', '--rm', IMG, 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.equal(r7.code, 7, r7.stderr);
    assert.equal(r7.stdout, 'out\n');
    assert.equal(r7.stderr, 'err\n');
    assert.equal((await ok(['ps', '-aq'])).trim(), '', '--rm containers are gone');
  });

  it('maps start errors to 126/127, and --rm still removes', async () => {
    const r = await a.docker(['run', '--rm', IMG, '/nonexistent']);
    assert.equal(r.code, 127, r.stderr);
    assert.match(r.stderr, /no such file or directory/);
    const r2 = await a.docker(['run', '--name', 'noexec', IMG, '/nonexistent']);
    assert.equal(r2.code, 127, r2.stderr);
    await ok(['rm', 'noexec']);
    assert.equal((await ok(['ps', '-aq'])).trim(), '');
  });

  it('runs a detached web server on a published port', async () => {
    const id = (await ok(['run', '-d', '--name', 'web', '-p', '127.0.0.1::8080', '--label', 'team=x', IMG, 'httpd', '-f', '-p', '8080', '-h', '/'])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = await ok(['ps']);
    assert.match(ps, new RegExp(`^${id.slice(0, 12)}\\s+bb:1\\s+"httpd -f -p 8080 -h…"\\s.*Up .*127\\.0\\.0\\.1:\\d+->8080/tcp\\s+web$`, 'm'));
    assert.match(await ok(['ps', '--filter', 'label=team=x', '-q']), new RegExp(id.slice(0, 12)));
    assert.equal((await ok(['ps', '--filter', 'label=team=y', '-q'])).trim(), '');
    const port = await ok(['port', 'web', '8080/tcp']);
    const hostPort = Number(/127\.0\.0\.1:(\d+)/.exec(port)?.[1]);
    assert.ok(hostPort > 0, port);
    const inspected = await ok(['inspect', '-f', '{{.State.Status}} {{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostPort}} {{.Config.Labels.team}}', 'web']);
    assert.equal(inspected.trim(), `running ${hostPort} x`);
    const res = await retry(() => httpGet(hostPort, '/etc/passwd'));
    assert.equal(res.status, 200);
    assert.match(res.body, /root:/);
  });

  it('inspects with Docker\'s shape', async () => {
    const [c] = JSON.parse(await ok(['inspect', 'web'])) as Record<string, any>[];
    assert.equal(c!.Name, '/web');
    assert.equal(c!.State.Running, true);
    assert.equal(c!.State.OOMKilled, false);
    assert.equal(c!.State.FinishedAt, '0001-01-01T00:00:00Z');
    assert.equal(c!.RestartCount, 0);
    assert.match(c!.NetworkSettings.IPAddress, /^172\.31\.\d+\.\d+$/);
    assert.deepEqual(c!.Config.Cmd, ['httpd', '-f', '-p', '8080', '-h', '/']);
  });

  it('execs and copies files both ways', async () => {
    const hostname = (await ok(['exec', 'web', 'cat', '/etc/hostname'])).trim();
    assert.equal(hostname, (await ok(['inspect', '-f', '{{.Id}}', 'web'])).trim().slice(0, 12));
    assert.equal((await a.docker(['exec', 'web', 'sh', '-c', 'exit 3'])).code, 3);
    const src = join(a.dir, 'in.txt');
    writeFileSync(src, 'hello from the host\n');
    await ok(['cp', src, 'web:/tmp/']);
    assert.equal(await ok(['exec', 'web', 'cat', '/tmp/in.txt']), 'hello from the host\n');
    const dst = join(a.dir, 'out.txt');
    await ok(['cp', 'web:/tmp/in.txt', dst]);
    assert.equal(readFileSync(dst, 'utf8'), 'hello from the host\n');
    const missing = await a.docker(['cp', 'web:/nope', join(a.dir, 'x')]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Could not find the file \/nope/);
  });

  it('follows logs, stops, waits, restarts, removes', async () => {
    await ok(['run', '-d', '--name', 'ticker', IMG, 'sh', '-c', 'trap "exit 0" TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done']);
    const follow = await a.docker(['logs', '-f', 'ticker'], { timeoutMs: 1500 });
    assert.equal(follow.code, null, 'logs -f keeps streaming until killed');
    assert.match(follow.stdout, /tick 0\ntick 1\n/);
    const tail = await ok(['logs', '--tail', '1', '--timestamps', 'ticker']);
    assert.match(tail, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+\n$/);
    const t0 = Date.now();
    assert.equal((await ok(['stop', 'ticker'])).trim(), 'ticker');
    assert.ok(Date.now() - t0 < 5000, 'TERM handled by the trap');
    assert.equal((await ok(['wait', 'ticker'])).trim(), '0');
    assert.match(await ok(['ps', '-a', '--filter', 'status=exited']), /ticker/);
    assert.match(await ok(['ps', '-a', '--filter', 'exited=0']), /ticker/);
    assert.equal((await ok(['restart', '-t', '1', 'ticker'])).trim(), 'ticker');
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', 'ticker'])).trim(), 'running');
    const rm = await a.docker(['rm', 'ticker']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /stop the container before removing or force remove/);
    assert.equal((await ok(['rm', '-f', 'ticker'])).trim(), 'ticker');
    const gone = await a.docker(['rm', 'ticker']);
    assert.match(gone.stderr, /No such container: ticker/);
  });

  it('kill answers 409 for a stopped container', async () => {
    await ok(['create', '--name', 'idle', IMG, 'true']);
    const r = await a.docker(['kill', 'idle']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is not running/);
    await ok(['rm', 'idle']);
  });

  it('fails at once for an unknown image', async () => {
    const r = await a.docker(['run', '--rm', 'nosuchimage', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /pull access denied for nosuchimage/);
    assert.ok(r.ms < 3000, `took ${r.ms} ms`);
  });

  it('refuses bad input with 4xx and leaves nothing behind', async () => {
    const before = (await ok(['ps', '-aq'])).trim();
    const bad = await curl(['-X', 'POST', '-H', 'Content-Type: application/json', '-d', '{not json', 'http://x/containers/create']);
    assert.equal(bad.status, 400);
    assert.ok(JSON.parse(bad.body).message);
    const noCmd = await curl(['-X', 'POST', '-H', 'Content-Type: application/json', '-d', JSON.stringify({ Image: IMG }), 'http://x/v1.50/containers/create']);
    assert.equal(noCmd.status, 400);
    assert.equal(JSON.parse(noCmd.body).message, 'no command specified');
    const unknown = await curl(['http://x/v1.50/nothing/here']);
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(unknown.body).message, 'page not found');
    const inUse = await a.docker(['run', '-d', '--name', 'web', IMG, 'true']);
    assert.equal(inUse.code, 125);
    assert.match(inUse.stderr, /Conflict\. The container name "\/web" is already in use by container "[0-9a-f]{64}"\. You have to remove \(or rename\) that container to be able to reuse that name\./);
    for (const args of [['--memory', '1m'], ['--cpus', '100000'], ['--name', 'bad/name']]) {
      const r = await a.docker(['run', '-d', ...args, IMG, 'true']);
      assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
    }
    const neg = await curl(['-X', 'POST', '-H', 'Content-Type: application/json', '-d', JSON.stringify({ Image: IMG, Cmd: ['true'], HostConfig: { NanoCpus: -1 } }), 'http://x/containers/create']);
    assert.equal(neg.status, 400);
    assert.equal((await ok(['ps', '-aq'])).trim(), before);
  });

  it('imports from an http URL, with a parent layer', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/bb.tar') return void createReadStream(a.busyboxTar).pipe(res);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const out = await ok(['import', `http://127.0.0.1:${port}/bb.tar`, 'fromurl:1']);
      assert.match(out.trim(), /^sha256:[0-9a-f]{64}$/);
      const r = await a.docker(['run', '--rm', 'fromurl:1', 'echo', 'from-url']);
      assert.equal(r.stdout, 'from-url\n');
      const missing = await a.docker(['import', `http://127.0.0.1:${port}/nope.tar`, 'fromurl:2']);
      assert.notEqual(missing.code, 0);
      // A layer on top of another image: the child sees the parent's files and its own.
      const layer = join(a.dir, 'layer.tar');
      writeFileSync(layer, tarBuffer([{ path: 'hello.txt', data: 'layered\n' }]));
      const child = await curl(['-X', 'POST', '-H', 'Content-Type: application/tar', '--data-binary', `@${layer}`, 'http://x/images/create?fromSrc=-&repo=layered&tag=1&parent=fromurl:1']);
      assert.equal(child.status, 200, child.body);
      const cat = await a.docker(['run', '--rm', 'layered:1', 'cat', '/hello.txt']);
      assert.equal(cat.stdout, 'layered\n');
      await ok(['rmi', 'layered:1']);
      await ok(['rmi', 'fromurl:1']);
    } finally {
      server.close();
    }
  });

  it('refuses evil tarballs on import with a 4xx and keeps nothing', async () => {
    const images = await ok(['images', '-q']);
    for (const kind of ['dotdot', 'absolute', 'symlink-write-through', 'hardlink-escape', 'device'] as const) {
      const file = join(a.dir, `evil-${kind}.tar`);
      writeFileSync(file, evilTar(kind));
      const r = await a.docker(['import', file, `evil:${kind}`]);
      assert.notEqual(r.code, 0, kind);
      assert.match(r.stderr, /Error response from daemon: /, kind);
      const raw = await curl(['-X', 'POST', '-H', 'Content-Type: application/tar', '--data-binary', `@${file}`, 'http://x/images/create?fromSrc=-&repo=evil']);
      assert.equal(raw.status, 400, `${kind}: ${raw.body}`);
    }
    assert.equal(await ok(['images', '-q']), images);
    assert.deepEqual(readdirSync(join(a.paths.home, 'images', 'tmp')), []);
  });

  it('removes images with Docker\'s item list', async () => {
    await ok(['import', '--change', 'CMD ["sh"]', a.busyboxTar, 'third:v']);
    assert.match(await ok(['inspect', '-f', '{{json .Config.Cmd}}', 'third:v']), /\["sh"\]/);
    const out = await ok(['rmi', 'third:v']);
    assert.match(out, /^Untagged: third:v\nDeleted: sha256:[0-9a-f]{64}\n$/);
  });

  it('imports the stack tar', { timeout: 300_000 }, async () => {
    const stack = await ensureStack({ cache: a.paths.cache });
    const out = await ok(['import', stack.tarPath, 'stack:test'], 280_000);
    assert.match(out.trim(), /^sha256:/);
    const r = await a.docker(['run', '--rm', 'stack:test', 'sh', '-c', 'node --version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^v\d+/);
  });

  it('finishes with no containers', async () => {
    await ok(['rm', '-f', 'web']);
    assert.equal((await ok(['ps', '-aq'])).trim(), '');
  });
});
