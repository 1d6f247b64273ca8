// The native container runtime on the real kernel: exit codes and logs, isolation, cgroup
// limits (memory OOM, pids, CPU), restart policies, stop/kill/remove, exec, copy in and out,
// published ports, and containers that outlive a runtime restart with their true exit codes.
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import type { ContainerSpecInput } from '../../layer0/runtime/types.ts';

let t: TestRuntime;
before(async () => {
  t = await startTestRuntime();
});
after(async () => {
  await t.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
async function run(args: string[], extra: Partial<ContainerSpecInput> = {}) {
  const c = await t.runtime.create({ name: `c${++n}`, image: t.image, args, hostname: '', network: 'none', ...extra });
  const exit = t.runtime.wait(c.id, 'next-exit');
  await t.runtime.start(c.id);
  return { id: c.id, exit };
}
async function output(id: string): Promise<string> {
  let s = '';
  for await (const l of t.runtime.logs(id, {})) s += l.data.toString();
  return s;
}
async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('runtime', () => {
  test('exit code, stdout and stderr in the log, own pid namespace and hostname', async () => {
    const { id, exit } = await run(['sh', '-c', 'echo out; echo err >&2; hostname; ps -o pid,comm; exit 7'], { hostname: 'box1' });
    assert.equal((await exit).exitCode, 7);
    const lines = [];
    for await (const l of t.runtime.logs(id, {})) lines.push(l);
    // Lines of one stream keep their order; stdout and stderr are separate pipes, so not between them.
    const pairs = lines.map((l) => `${l.stream}:${l.data.toString()}`);
    assert.ok(pairs.includes('stdout:out\n') && pairs.includes('stderr:err\n'), pairs.join(''));
    const text = lines.map((l) => l.data.toString()).join('');
    assert.match(text, /^box1$/m);
    // Only the container's own processes: sh as pid 1 and ps.
    const pids = [...text.matchAll(/^\s*(\d+)\s+\S+$/gm)].map((m) => Number(m[1]));
    assert.equal(pids[0], 1);
    assert.ok(pids.length <= 3, text);
    assert.equal(t.runtime.get(id).state.status, 'exited');
    // tail and since
    const tail = [];
    for await (const l of t.runtime.logs(id, { tail: 1 })) tail.push(l.data.toString());
    assert.equal(tail.length, 1);
    const future = [];
    for await (const l of t.runtime.logs(id, { since: Date.now() / 1000 + 60 })) future.push(l);
    assert.equal(future.length, 0);
  });

  test('seccomp filter, no_new_privileges and Docker\'s default capability set are in force', async () => {
    const { id, exit } = await run(['grep', '-E', '^(Seccomp|NoNewPrivs|CapEff|CapBnd):', '/proc/self/status']);
    assert.equal((await exit).exitCode, 0);
    const status = Object.fromEntries((await output(id)).trim().split('\n').map((l) => l.split(/:\s+/)));
    assert.equal(status.Seccomp, '2'); // filter mode
    assert.equal(status.NoNewPrivs, '1');
    assert.equal(status.CapEff, '00000000a80425fb'); // moby's default set, nothing more
    assert.equal(status.CapBnd, '00000000a80425fb');
    // Masked and read-only /proc paths.
    const m = await run(['sh', '-c', '(cat /proc/kcore | head -c 1 | wc -c; echo 1 > /proc/sys/kernel/hostname && echo wrote || echo refused) 2>/dev/null']);
    await m.exit;
    assert.deepEqual((await output(m.id)).trim().split('\n'), ['0', 'refused']);
  });

  test('a user from /etc/passwd, env and working dir reach the process', async () => {
    const { id, exit } = await run(['sh', '-c', 'id -u; echo $FOO; pwd'], { user: 'app', env: ['FOO=bar'], workingDir: '/tmp' });
    assert.equal((await exit).exitCode, 0);
    assert.equal(await output(id), '10001\nbar\n/tmp\n');
  });

  test('--memory 64m OOM-kills a memory hog (137, OOMKilled) while another container carries on', async () => {
    const bystander = await run(['sleep', '30']);
    const { id, exit } = await run(['sh', '-c', 'a=xxxxxxxxxxxxxxxx; while true; do a="$a$a"; done'], { memory: 64 * 1024 * 1024 });
    const res = await exit;
    assert.equal(res.exitCode, 137);
    assert.equal(t.runtime.get(id).state.oomKilled, true);
    assert.equal(t.runtime.get(bystander.id).state.status, 'running');
    await t.runtime.remove(bystander.id, { force: true });
  });

  test('a fork bomb under --pids-limit 64 is contained', async () => {
    const { id } = await run(['sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 5'], { pidsLimit: 64 });
    await sleep(1500);
    const s = await t.runtime.stats(id);
    assert.ok(s.pids <= 64, `pids ${s.pids}`);
    assert.equal(s.pidsLimit, 64);
    // The machine still starts processes and containers.
    const other = await run(['echo', 'alive']);
    assert.equal((await other.exit).exitCode, 0);
    await t.runtime.remove(id, { force: true });
  });

  test('--cpus 0.5 holds a busy loop near half a core', async () => {
    const { id } = await run(['sh', '-c', 'while :; do :; done'], { nanoCpus: 500_000_000 });
    await sleep(500);
    const a = await t.runtime.stats(id);
    const t0 = Date.now();
    await sleep(3000);
    const b = await t.runtime.stats(id);
    const cores = (b.cpuTotalNs - a.cpuTotalNs) / ((Date.now() - t0) * 1e6);
    assert.ok(cores > 0.3 && cores < 0.65, `used ${cores.toFixed(2)} cores`);
    await t.runtime.remove(id, { force: true });
  });

  test('stop sends the stop signal, then SIGKILL after the timeout', async () => {
    const { id } = await run(['sleep', '100']);
    const t0 = Date.now();
    await t.runtime.stop(id, { timeout: 1 });
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(t.runtime.get(id).state.exitCode, 137);
    await assert.rejects(t.runtime.stop(id), { code: 'not_modified' });
    await assert.rejects(t.runtime.kill(id), { code: 'not_running' });
  });

  test('restart policies: on-failure:2 retries twice, always comes back until stopped', async () => {
    const f = await run(['sh', '-c', 'exit 3'], { restartPolicy: { name: 'on-failure', maximumRetryCount: 2 } });
    await until(() => t.runtime.get(f.id).state.restartCount === 2 && t.runtime.get(f.id).state.status === 'exited');
    await sleep(500);
    assert.equal(t.runtime.get(f.id).state.restartCount, 2);
    assert.equal(t.runtime.get(f.id).state.exitCode, 3);
    const a = await run(['sh', '-c', 'sleep 0.2'], { restartPolicy: { name: 'always', maximumRetryCount: 0 } });
    await until(() => t.runtime.get(a.id).state.restartCount >= 2);
    await t.runtime.stop(a.id, { timeout: 1 });
    const count = t.runtime.get(a.id).state.restartCount;
    await sleep(800);
    assert.equal(t.runtime.get(a.id).state.restartCount, count);
    assert.notEqual(t.runtime.get(a.id).state.status, 'running');
  });

  test('remove: refused while running unless forced; auto-remove after exit', async () => {
    const { id } = await run(['sleep', '100']);
    await assert.rejects(t.runtime.remove(id), { code: 'conflict' });
    await t.runtime.remove(id, { force: true });
    assert.throws(() => t.runtime.get(id), { code: 'container_not_found' });
    const c = await t.runtime.create({ name: 'rm1', image: t.image, args: ['true'], hostname: '', network: 'none', autoRemove: true });
    const removed = t.runtime.wait(c.id, 'removed');
    await t.runtime.start(c.id);
    assert.equal((await removed).exitCode, 0);
    assert.throws(() => t.runtime.get(c.id), { code: 'container_not_found' });
  });

  test('exec runs in the container and returns its exit code', async () => {
    const { id } = await run(['sleep', '100'], { hostname: 'exechost' });
    const e = t.runtime.createExec(id, { cmd: ['sh', '-c', 'cat /etc/hostname; exit 4'] });
    const s = await t.runtime.startExec(e.id);
    let out = '';
    s.stdout.on('data', (d) => (out += d));
    assert.equal(await s.exit, 4);
    assert.equal(out, 'exechost\n');
    assert.equal(t.runtime.getExec(e.id).exitCode, 4);
    await t.runtime.remove(id, { force: true });
  });

  test('copy files in and out, also of a stopped container; symlinks resolve inside the root', async () => {
    const { id, exit } = await run(['sh', '-c', 'echo inside > /tmp/made; ln -s /etc /tmp/etclink']);
    await exit;
    const got = await t.runtime.archiveGet(id, '/tmp/made');
    const entries: Record<string, string> = {};
    await new Promise<void>((resolve, reject) => {
      const p = new tar.Parser({ onReadEntry: (e) => { let s = ''; e.on('data', (d: Buffer) => (s += d)); e.on('end', () => (entries[e.path] = s)); } });
      p.on('end', resolve);
      p.on('error', reject);
      (got.tar as unknown as Readable).pipe(p as unknown as NodeJS.WritableStream);
    });
    assert.deepEqual(entries, { made: 'inside\n' });
    const stat = await t.runtime.archiveStat(id, '/tmp/etclink');
    assert.equal(stat.linkTarget, '/etc');
    const upload = tar.c({ cwd: '/etc', portable: true }, ['hostname']) as unknown as NodeJS.ReadableStream;
    await t.runtime.archivePut(id, '/tmp/etclink', upload); // lands in the container's /etc
    await assert.rejects(t.runtime.archiveStat(id, '/nope'), { code: 'not_found' });
    const again = await run(['cat', '/etc/hostname']);
    await again.exit;
    assert.notEqual(await output(again.id), ''); // its own hostname file (bind-mounted)
    // /etc/hostname is the container's own (bind-mounted while it runs), in docker cp too.
    const hostnameTar = await t.runtime.archiveGet(again.id, '/etc/hostname');
    let body = '';
    await new Promise<void>((resolve, reject) => {
      const p = new tar.Parser({ onReadEntry: (e) => e.on('data', (d: Buffer) => (body += d)) });
      p.on('end', resolve);
      p.on('error', reject);
      (hostnameTar.tar as unknown as Readable).pipe(p as unknown as NodeJS.WritableStream);
    });
    assert.equal(body, `${t.runtime.get(again.id).spec.hostname}\n`);
  });

  test('published ports are reachable on 127.0.0.1; the host is not reachable from the container', async () => {
    const host = createServer((s) => s.end('host-secret\n'));
    await new Promise<void>((r) => host.listen(0, '0.0.0.0', () => r()));
    const hostPort = (host.address() as { port: number }).port;
    try {
      const { id } = await run(['sh', '-c', 'echo served > /tmp/index.html; httpd -f -p 8080 -h /tmp'], {
        network: 'bridge',
        ports: [{ containerPort: 8080, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 }],
      });
      const rec = t.runtime.get(id);
      const port = rec.network!.ports[0].hostPort;
      assert.ok(port > 0);
      await until(async () => (await fetch(`http://127.0.0.1:${port}/index.html`).then((r) => r.text(), () => '')) === 'served\n');
      const probe = await run(['sh', '-c', `nc -w 2 ${rec.network!.gateway} ${hostPort} </dev/null; echo rc=$?`], { network: 'bridge' });
      await probe.exit;
      assert.doesNotMatch(await output(probe.id), /host-secret/);
      await t.runtime.remove(id, { force: true });
      await assert.rejects(new Promise((res, rej) => { const s = connect(port, '127.0.0.1', () => { s.destroy(); res(null); }); s.on('error', rej); }));
    } finally {
      host.close();
    }
  });

  test('bad input: unknown image, a name in use, an unknown user — nothing left behind', async () => {
    const before = t.runtime.list().length;
    await assert.rejects(t.runtime.create({ name: 'x1', image: 'nosuch:latest', args: ['true'], hostname: '' }), { code: 'image_not_found' });
    await t.runtime.create({ name: 'dup', image: t.image, args: ['true'], hostname: '' });
    await assert.rejects(t.runtime.create({ name: 'dup', image: t.image, args: ['true'], hostname: '' }), { code: 'name_in_use' });
    await assert.rejects(t.runtime.create({ name: 'x2', image: t.image, args: ['true'], hostname: '', user: 'nobody-here' }));
    await assert.rejects(t.runtime.create({ name: 'x3', image: t.image, args: [], hostname: '' }), { code: 'invalid_params' });
    assert.equal(t.runtime.list().length, before + 1);
    const { exit } = await run(['nosuchbinary']).catch((err) => ({ exit: Promise.resolve({ exitCode: -1, error: String(err) }) }));
    assert.match((await exit).error, /executable file not found/);
  });

  test('containers outlive a runtime restart: still running, logs continue, a container that exited meanwhile has its true code', async () => {
    const ticking = [];
    for (let i = 0; i < 3; i++) ticking.push((await run(['sh', '-c', 'while true; do echo tick; sleep 0.1; done'])).id);
    const quitter = (await run(['sh', '-c', 'sleep 1; exit 5'])).id;
    const runtime = await t.reopen();
    await sleep(1500);
    for (const id of ticking) {
      const c = runtime.get(id);
      assert.equal(c.state.status, 'running');
      assert.equal(c.state.restartCount, 0);
    }
    await until(() => runtime.get(quitter).state.status === 'exited');
    assert.equal(runtime.get(quitter).state.exitCode, 5);
    // logs keep flowing after the restart
    const seen: string[] = [];
    const ac = new AbortController();
    const t0 = Date.now();
    for await (const l of runtime.logs(ticking[0], { follow: true, tail: 0, signal: ac.signal })) {
      seen.push(l.data.toString());
      if (seen.length >= 3) ac.abort();
    }
    assert.ok(Date.now() - t0 < 3000);
    for (const id of ticking) await runtime.remove(id, { force: true });
  });
});
