// Tenant isolation in the container runtime (issue 13: H1, H4, M2, M5's container limits), tried
// from inside real containers: app processes (formation, one-off) run as `app` (10001) with no
// capabilities in any set and no_new_privileges; the seccomp allow-list refuses namespace
// creation, io_uring, mounts and the keyring while ordinary programs run; $SLIPWAY_HOME is
// private; a fork bomb stops at the pids limit; one-offs hold memory on their host.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectAgent, type AgentClient } from '../../layer0/agent/client.ts';
import { startAgent } from '../../layer0/agent/daemon.ts';
import { silentLogger } from '../../layer0/common/logger.ts';
import { cleanupByPrefix } from '../../layer0/network/index.ts';
import { removeCgroupParent } from '../../layer0/runtime/index.ts';
import { isContainerContent } from '../../layer0/runtime/private-home.ts';
import { seccompProfile } from '../../layer0/runtime/seccomp.ts';
import { plan } from '../../layer0/scheduler/plan.ts';
import { FormationSchema } from '../../layer0/scheduler/types.ts';
import { startTestAgent, type TestAgent } from '../helpers/agent.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { until } from '../helpers/wait.ts';

const STACK = 'slipway/stack:bookworm';
const APP = { User: '10001:10001', CapDrop: ['ALL'] };

/** Runs a syscall per probe through libc from Python and prints {probe: 'ok' | errno name}. */
const PROBE = String.raw`
import ctypes, os, json, errno
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(nr, *a):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(x) for x in a])
    e = ctypes.get_errno()
    if nr == 56 and r == 0: os._exit(0)
    if nr == 56 and r > 0: os.waitpid(r, 0)
    return 'ok' if r >= 0 else errno.errorcode.get(e, str(e))
NEWUSER, NEWNET, SIGCHLD = 0x10000000, 0x40000000, 17
print(json.dumps({
  'unshare(NEWUSER)': sc(272, NEWUSER), 'unshare(NEWNET)': sc(272, NEWNET),
  'clone(NEWUSER)': sc(56, NEWUSER | SIGCHLD, 0, 0, 0, 0), 'clone(NEWNET)': sc(56, NEWNET | SIGCHLD, 0, 0, 0, 0),
  'clone()': sc(56, SIGCHLD, 0, 0, 0, 0), 'clone3': sc(435, 0, 0), 'io_uring_setup': sc(425, 1, 0),
  'mount': sc(165, 0, 0, 0, 0, 0), 'open_tree': sc(428, 0, 0, 0), 'fsopen': sc(430, 0, 0), 'setns': sc(308, 0, 0),
  'keyctl': sc(250, 0, 0, 0, 0, 0), 'add_key': sc(248, 0, 0, 0, 0, 0), 'bpf': sc(321, 0, 0, 0),
  'userfaultfd': sc(323, 0), 'kexec_load': sc(246, 0, 0, 0, 0),
}))`;
const REFUSED: Record<string, string> = {
  'unshare(NEWUSER)': 'EPERM', 'unshare(NEWNET)': 'EPERM', 'clone(NEWUSER)': 'EPERM', 'clone(NEWNET)': 'EPERM',
  clone3: 'ENOSYS', io_uring_setup: 'ENOSYS', mount: 'EPERM', open_tree: 'EPERM', fsopen: 'EPERM', setns: 'EPERM',
  keyctl: 'EPERM', add_key: 'EPERM', bpf: 'EPERM', userfaultfd: 'EPERM', kexec_load: 'EPERM',
};

function statusField(status: string, name: string): string {
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
}

/** Creates, starts and waits for a container; its exit code and output. */
async function runIn(agent: AgentClient, cmd: string[], o: { user?: string; hostConfig?: Record<string, unknown>; image?: string } = {}): Promise<{ exitCode: number; out: string }> {
  const id = await agent.createContainer({ Image: o.image ?? STACK, Cmd: cmd, ...(o.user ? { User: o.user } : {}), HostConfig: { NetworkMode: 'none', ...o.hostConfig } });
  try {
    await agent.startContainer(id);
    const exitCode = await agent.waitContainer(id, 'not-running');
    let out = '';
    for await (const c of agent.logs(id)) out += c.data.toString();
    return { exitCode, out };
  } finally {
    await agent.removeContainer(id, true);
  }
}

describe('runtime isolation (agent, stack image)', { timeout: 300_000 }, () => {
  let t: TestAgent;
  let agent: AgentClient;
  before(async () => {
    t = await startTestAgent({ importStack: true, suffix: 'ri' });
    agent = connectAgent({ socketPath: t.socketPath });
  });
  after(async () => {
    await t?.cleanup();
  });

  it('an app container (User 10001, CapDrop ALL) has no capability in any set, no_new_privileges, and still writes /app and /tmp and binds $PORT', async () => {
    const script = 'cat /proc/self/status; id -u; id -g; echo x > /app/w && echo x > /tmp/w && echo writes; python3 -c "import socket; s=socket.socket(); s.bind((\'0.0.0.0\', 5000)); s.listen(); print(\'bound\')"';
    const r = await runIn(agent, ['bash', '-c', script], { user: APP.User, hostConfig: { CapDrop: APP.CapDrop } });
    assert.equal(r.exitCode, 0, r.out);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(statusField(r.out, set), '0000000000000000', `${set}: ${r.out}`);
    assert.equal(statusField(r.out, 'NoNewPrivs'), '1');
    assert.equal(statusField(r.out, 'Seccomp'), '2', 'a seccomp filter is on');
    assert.match(r.out, /^10001\n10001\nwrites\nbound$/m);
  });

  it('an exec into an app container runs as its user with its (empty) capabilities', async () => {
    const id = await agent.createContainer({ Image: STACK, Cmd: ['sleep', '30'], User: APP.User, HostConfig: { NetworkMode: 'none', CapDrop: APP.CapDrop } });
    try {
      await agent.startContainer(id);
      const r = await agent.exec(id, ['sh', '-c', 'id -u; grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^10001\n/);
      assert.equal((r.stdout.match(/0000000000000000/g) ?? []).length, 3, r.stdout);
    } finally {
      await agent.removeContainer(id, true);
    }
  });

  it('the agent follows Docker on CapAdd/CapDrop and refuses Privileged and unknown capabilities', async () => {
    const some = await runIn(agent, ['sh', '-c', 'grep CapEff /proc/self/status'], { hostConfig: { CapDrop: ['ALL'], CapAdd: ['NET_BIND_SERVICE'] } });
    assert.match(some.out, /CapEff:\s*0000000000000400/, some.out); // bit 10 = CAP_NET_BIND_SERVICE
    await assert.rejects(agent.createContainer({ Image: STACK, Cmd: ['true'], HostConfig: { Privileged: true } }), (e: { statusCode?: number; message: string }) => e.statusCode === 400 && /privileged/.test(e.message));
    await assert.rejects(agent.createContainer({ Image: STACK, Cmd: ['true'], HostConfig: { CapAdd: ['CAP_NOPE'] } }), (e: { statusCode?: number; message: string }) => e.statusCode === 400 && /unknown capability/.test(e.message));
  });

  for (const who of [{ name: 'an app process', user: APP.User, hostConfig: { CapDrop: APP.CapDrop } }, { name: 'root with Docker\'s default capabilities', user: '', hostConfig: {} }]) {
    it(`seccomp refuses namespaces, io_uring, mounts and the keyring to ${who.name}`, async () => {
      const r = await runIn(agent, ['python3', '-c', PROBE], { user: who.user, hostConfig: who.hostConfig });
      assert.equal(r.exitCode, 0, r.out);
      const seen = JSON.parse(r.out.trim().split('\n').pop()!) as Record<string, string>;
      assert.equal(seen['clone()'], 'ok', 'a plain fork still works');
      for (const [probe, errno] of Object.entries(REFUSED)) assert.equal(seen[probe], errno, `${probe}: ${JSON.stringify(seen)}`);
    });
  }

  it('ordinary programs still run under the allow-list: node, python3, bash, a pipeline with subshells', async () => {
    const r = await runIn(agent, ['bash', '-c', 'node -e "require(\'fs\').writeFileSync(\'/tmp/n\', String(1+1)); console.log(\'node\', require(\'child_process\').execSync(\'cat /tmp/n\').toString())" && python3 -c "import subprocess; print(\'py\', subprocess.check_output([\'echo\', \'sub\']).decode().strip())" && (echo a | tr a b) && ls / | wc -l'], { user: APP.User, hostConfig: { CapDrop: APP.CapDrop } });
    assert.equal(r.exitCode, 0, r.out);
    assert.match(r.out, /^node 2$/m);
    assert.match(r.out, /^py sub$/m);
    assert.match(r.out, /^b$/m);
  });

  it('a missing seccomp profile is a clear error naming the package', () => {
    assert.throws(() => seccompProfile([], '/nonexistent/seccomp.json'), /golang-github-containers-common/);
  });

  it('$SLIPWAY_HOME is private: 0700 itself, and only containers\' own filesystems keep group/other bits', async () => {
    const id = await agent.createContainer({ Image: STACK, Cmd: ['sleep', '30'], Env: ['SECRET=hunter2'], ...APP, HostConfig: { CapDrop: APP.CapDrop } });
    try {
      await agent.startContainer(id);
      assert.equal(lstatSync(t.paths.home).mode & 0o777, 0o700);
      const open: string[] = [];
      const walk = (abs: string, rel: string) => {
        if (rel && isContainerContent(rel)) return; // image layers, rootfs/upper, the /etc files a container reads
        const st = lstatSync(abs);
        if (st.isSymbolicLink()) return;
        // conmon's FIFOs and its pid/exit files hold no secret; they sit in the 0700 container dir.
        const conmonOwn = /^containers\/[^/]+\/(ctl|winsz|monitor\/[^/]+)$/.test(rel);
        if (st.mode & 0o077 && !conmonOwn) open.push(`${(st.mode & 0o7777).toString(8)} ${rel}`);
        if (st.isDirectory()) for (const n of readdirSync(abs)) walk(join(abs, n), rel ? `${rel}/${n}` : n);
      };
      walk(t.paths.home, '');
      assert.deepEqual(open, [], 'entries other local users could read or enter');
      const dir = join(t.paths.home, 'containers', id);
      assert.equal(lstatSync(dir).mode & 0o777, 0o700);
      for (const f of ['config.json', 'record.json']) assert.equal(lstatSync(join(dir, f)).mode & 0o777, 0o600, f);
      // …while the container's non-root user still reads its /etc files and walks its root.
      const r = await agent.exec(id, ['sh', '-c', 'cat /etc/hostname >/dev/null && ls / >/dev/null && echo ok']);
      assert.equal(r.stdout, 'ok\n', r.stderr);
    } finally {
      await agent.removeContainer(id, true);
    }
  });

  it('an existing home made with open modes is fixed up once when the agent starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slwt-home-'));
    const paths = { home: join(dir, 'home'), run: join(dir, 'run'), cache: t.paths.cache, prefix: testPrefix('rh') };
    try {
      // An old tree, as main made it: a 0755 home and container dir, a 0644 config.json with a secret.
      mkdirSync(join(paths.home, 'containers', 'old'), { recursive: true, mode: 0o755 });
      chmodSync(paths.home, 0o755);
      writeFileSync(join(paths.home, 'containers', 'old', 'config.json'), '{"env":["SECRET=x"]}', { mode: 0o644 });
      const a = await startAgent({ paths, log: silentLogger });
      await a.close();
      assert.equal(lstatSync(paths.home).mode & 0o777, 0o700);
      assert.equal(lstatSync(join(paths.home, 'containers', 'old')).mode & 0o777, 0o700);
      assert.equal(lstatSync(join(paths.home, 'containers', 'old', 'config.json')).mode & 0o777, 0o600);
    } finally {
      await cleanupByPrefix(paths.prefix);
      removeCgroupParent(paths.prefix);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('app processes through the platform (formation, one-off)', { timeout: 300_000 }, () => {
  let p: TestPlatform;
  let admin = '';
  before(async () => {
    p = await startTestPlatform({ deployOptions: { limits: { pidsLimit: 128 } } });
    admin = p.adminToken;
    assert.equal((await p.request('POST', '/v1/apps', { token: admin, body: { name: 'iso' } })).status, 201);
    const rel = await p.request('POST', '/v1/apps/iso/releases?wait=true', { token: admin, body: { image: 'bb:1', imageUrl: p.imageUrl, procfile: { web: "sh -c 'httpd -f -p $PORT -h /'" } } });
    assert.equal(rel.status, 201, rel.text);
    assert.equal(rel.body.deployment.state, 'succeeded', rel.text);
  });
  after(async () => {
    const leaks = await p?.close();
    assert.deepEqual(leaks ?? [], []);
  });

  it('a web process runs as 10001 with no capabilities, the pids limit and a CPU weight in its cgroups', async () => {
    const app = await p.request('GET', '/v1/apps/iso', { token: admin });
    const [c] = (await p.containers(app.body.id)).filter((x) => x.state === 'running');
    assert.ok(c, 'a running web process');
    const host = p.hosts.find((h) => readdirSync(join(h.paths.home, 'containers')).includes(c.id))!;
    const agent = connectAgent({ socketPath: join(host.paths.run, 'agent.sock') });
    const info = await agent.inspectContainer(c.id);
    assert.equal(info.Config.User, '10001:10001');
    const r = await agent.exec(c.id, ['sh', '-c', 'grep -E "^(Uid|Gid|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs)" /proc/1/status']);
    assert.match(r.stdout, /^Uid:\s+10001\s+10001\s+10001\s+10001$/m, r.stdout);
    assert.match(r.stdout, /^Gid:\s+10001\s+10001\s+10001\s+10001$/m);
    assert.equal((r.stdout.match(/^Cap\w+:\s+0000000000000000$/gm) ?? []).length, 5, r.stdout);
    assert.match(r.stdout, /^NoNewPrivs:\s+1$/m);
    const cg = (ctl: string, file: string) => readFileSync(`/sys/fs/cgroup/${ctl}/${host.paths.prefix}/${host.paths.prefix}-${c.id}/${file}`, 'utf8').trim();
    assert.equal(cg('pids', 'pids.max'), '128');
    assert.equal(cg('cpu', 'cpu.shares'), '1024');
  });

  it('a one-off process (run, and the release phase, which is one) runs as 10001 with no capabilities', async () => {
    const r = await p.request('POST', '/v1/apps/iso/run', { token: admin, body: { command: 'id -u; grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || true' } });
    assert.equal(r.status, 200, r.text);
    const out = r.text.trim().split('\n').map((l) => JSON.parse(l) as { stream?: string; data?: string; exitCode?: number }).filter((l) => l.stream === 'stdout').map((l) => l.data).join('');
    assert.match(out, /^10001$/m, out);
    assert.equal((out.match(/0000000000000000/g) ?? []).length, 3, out);
  });

  it('a fork bomb in an app\'s one-off stops at the pids limit; the host and the app\'s other processes carry on', async () => {
    const bomb = fetch(`${p.url}/v1/apps/iso/run`, {
      method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      // Process 1 becomes `sleep` (exec, no fork), so the container lives on while the bomb forks.
      body: JSON.stringify({ command: 'bomb() { bomb | bomb & }; (sleep 1; bomb) & exec sleep 30', timeoutSec: 8 }),
    }).then((r) => r.text());
    let cg = '';
    await until('the bomb running', async () => {
      for (const h of p.hosts) {
        const a = connectAgent({ socketPath: join(h.paths.run, 'agent.sock') });
        const [c] = await a.listContainers({ labels: ['slipway.type=run', 'slipway.app=iso'] });
        if (c) cg = `/sys/fs/cgroup/pids/${h.paths.prefix}/${h.paths.prefix}-${c.Id}`;
      }
      return cg !== '';
    }, 20_000, 50);
    await until('the bomb hit its limit', () => Number(/max (\d+)/.exec(readFileSync(`${cg}/pids.events`, 'utf8'))?.[1] ?? 0) > 0, 20_000, 100);
    assert.equal(readFileSync(`${cg}/pids.max`, 'utf8').trim(), '128');
    assert.ok(Number(readFileSync(`${cg}/pids.current`, 'utf8')) <= 128);
    const other = await p.request('POST', '/v1/apps/iso/run', { token: admin, body: { command: 'echo alive' } });
    assert.match(other.text, /"data":"alive\\n"/, other.text);
    assert.equal(execFileSync('sh', ['-c', 'echo host-fine'], { encoding: 'utf8' }), 'host-fine\n');
    assert.match(await bomb, /\{"exitCode":137,"reason":"timeout"/, 'ended by its timeout');
  });

  it('a one-off must fit in a host\'s free memory (409 otherwise), and the scheduler counts one-offs on their host', async () => {
    const big = await p.request('POST', '/v1/apps/iso/run', { token: admin, body: { command: 'true', memory: '3G' } });
    assert.equal(big.status, 409, big.text);
    assert.match(big.text, /memory free/);
    const f = FormationSchema.parse({ id: 'f', jobs: { web: { count: 1, image: 'x', cmd: ['x'], memory: 256 << 20 } } });
    const host = { id: 'h1', agentUrl: 'unix:///x', address: '127.0.0.1', capacity: { memory: 1024 ** 3, cpus: 2 }, labels: {} };
    assert.equal(plan([f], { hosts: [host], jobs: [] })[0]?.type, 'start');
    const held = plan([f], { hosts: [host], jobs: [], reservedMemory: new Map([['h1', 900 << 20]]) });
    assert.deepEqual(held.map((a) => a.type), ['pending'], 'memory held by one-offs is not free for jobs');
  });
});
