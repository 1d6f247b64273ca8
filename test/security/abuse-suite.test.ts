// The abuse suite (issue 13, "Done means"): a hostile tenant with one owner token and one deploy
// token attacks a real platform (`slipway up`) through the public surfaces only — its pushed app's
// own code (test/fixtures/apps/hostile: HTTP endpoints that run probes inside its container), the
// /v1 API, git push and the router — while a victim tenant's app (hostile-victim) serves. Each
// attack is a row (finding, attack, expected, seen, pass); the table is printed at the end and
// every row must pass. The test side uses the agent only to learn where the victim's container
// lives (what an attacker would scan for) and hands that to the probes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { connectAgent } from '../../layer0/agent/client.ts';
import { BIN, git, push, type PushResult } from '../helpers/git-push.ts';
import { sleep } from '../helpers/wait.ts';
import { startAbusePlatform, type AbusePlatform, type ApiAnswer, type Tenant, type WebContainer } from './helpers/abuse-platform.ts';
import { AbuseTable } from './helpers/abuse-table.ts';

const execFileP = promisify(execFile);
const table = new AbuseTable();
const SECRET = `victim-secret-${randomBytes(8).toString('hex')}`;
let p: AbusePlatform;
let alice: Tenant; // the victim
let mallory: Tenant; // the attacker
let victim: WebContainer;
let evil: WebContainer;

const HOSTILE = 'HOSTILE-APP';
const VICTIM = 'VICTIM-APP';
const json = (a: ApiAnswer) => (typeof a.body === 'object' && a.body !== null ? a.body as Record<string, unknown> : {});
const short = (a: ApiAnswer) => `${a.status} ${a.text.replace(/\s+/g, ' ').slice(0, 140)}`;
const refused = (a: ApiAnswer) => a.status >= 400 && a.status < 500;

/** Runs one probe inside the hostile app's container (through the router, as any visitor could). */
async function probe<T = Record<string, unknown>>(name: string, q: Record<string, string | number> = {}, timeoutMs = 30_000): Promise<T> {
  const qs = new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)])).toString();
  const r = await p.viaRouter('evil.localhost', `/probe/${name}${qs ? `?${qs}` : ''}`, timeoutMs);
  if (r.status !== 200) throw new Error(`probe ${name}: HTTP ${short(r)}`);
  return r.body as T;
}

/** Polls the victim through the router until stopped: how many answers came back 200 from it. */
function watchVictim(): { stop(): Promise<string> } {
  let running = true;
  let ok = 0;
  const bad: string[] = [];
  const loop = (async () => {
    while (running) {
      const r = await p.viaRouter('victim.localhost', '/', 5000).catch((e: Error) => ({ status: 0, text: e.message, body: null }));
      if (r.status === 200 && r.text.includes(VICTIM)) ok++;
      else bad.push(`${r.status} ${r.text.slice(0, 60)}`);
      await sleep(250);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return bad.length ? `victim failed ${bad.length} of ${ok + bad.length} requests (${bad[0]})` : `victim answered ${ok} of ${ok} requests`;
    },
  };
}

const victimFine = (s: string) => /^victim answered (\d+) of \1 requests$/.test(s) && !s.startsWith('victim answered 0 ');

async function pushOk(t: Tenant): Promise<PushResult> {
  const r = await push(t.repo).done;
  assert.equal(r.code, 0, `push of ${t.app}: ${r.out}`);
  return r;
}

/** A new empty commit pushed (a build each time); resolves with the push, whatever its outcome. */
async function pushAgain(t: Tenant, message: string): Promise<PushResult> {
  await git(t.repo, 'commit', '-q', '--allow-empty', '-m', message);
  return push(t.repo).done;
}

before(async () => {
  p = await startAbusePlatform();
  alice = await p.tenant('alice', 'victim', 'hostile-victim');
  mallory = await p.tenant('mallory', 'evil', 'hostile');
  const set = await p.api(alice.deploy, 'PATCH', '/apps/victim/config', { VICTIM_SECRET: SECRET });
  assert.ok(set.status < 300, short(set));
  await Promise.all([pushOk(alice), pushOk(mallory)]);
  victim = await p.webContainer('victim');
  evil = await p.webContainer('evil');
  assert.equal(json(await p.viaRouter('victim.localhost', '/')).app, VICTIM);
  assert.equal(json(await p.viaRouter('evil.localhost', '/')).app, HOSTILE);
});

after(async () => {
  console.log(`\nAbuse suite (issue 13): a hostile tenant against a real platform\n${table.render()}\n`);
  const leaks = p ? await p.close() : [];
  assert.deepEqual(leaks, [], 'slipway down leaves nothing');
});

describe('abuse suite: from inside the hostile app\'s container', { timeout: 600_000 }, () => {
  it('the app process: not root, no capabilities, no_new_privileges, seccomp on; the same for a one-off', async () => {
    const from = table.rows.length;
    const id = await probe<{ uid: number; Uid: string; CapEff: string; CapBnd: string; NoNewPrivs: string; Seccomp: string }>('identity');
    table.add({ finding: 'H1', attack: 'web process identity (id -u, /proc/self/status Uid)', expected: 'not uid 0 (app, 10001)', seen: `uid ${id.uid} (Uid: ${id.Uid})`, pass: id.uid !== 0 });
    table.add({ finding: 'H1', attack: 'web process capabilities (CapEff)', expected: 'CapEff 0000000000000000', seen: `CapEff ${id.CapEff}, CapBnd ${id.CapBnd}`, pass: /^0+$/.test(id.CapEff) });
    table.add({ finding: 'H1', attack: 'gain privileges through setuid/file caps (NoNewPrivs)', expected: 'NoNewPrivs 1', seen: `NoNewPrivs ${id.NoNewPrivs}`, pass: id.NoNewPrivs === '1' });
    table.add({ finding: 'H4', attack: 'seccomp filter in force', expected: 'Seccomp 2 (filter)', seen: `Seccomp ${id.Seccomp}`, pass: id.Seccomp === '2' });
    await table.try('H1', 'one-off (POST /v1/apps/evil/run) identity', 'not uid 0, CapEff 0, NoNewPrivs 1', async () => {
      const res = await fetch(`http://127.0.0.1:${p.ports.api}/v1/apps/evil/run`, {
        method: 'POST', headers: { authorization: `Bearer ${mallory.deploy}`, 'content-type': 'application/json' },
        body: JSON.stringify({ command: 'id -u; grep -E "^(CapEff|NoNewPrivs):" /proc/self/status', timeoutSec: 30 }),
        signal: AbortSignal.timeout(60_000),
      });
      const text = await res.text();
      const out = text.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l) as { data?: string }; } catch { return {}; } }).map((l) => l.data ?? '').join('');
      const uid = /^(\d+)$/m.exec(out)?.[1];
      const cap = /CapEff:\s*([0-9a-f]+)/.exec(out)?.[1];
      const nnp = /NoNewPrivs:\s*(\d)/.exec(out)?.[1];
      return { seen: res.status === 200 ? `uid ${uid}, CapEff ${cap}, NoNewPrivs ${nnp}` : `HTTP ${res.status} ${text.slice(0, 120)}`, pass: res.status === 200 && uid !== undefined && uid !== '0' && /^0+$/.test(cap ?? '') && nnp === '1' };
    });
    table.assertFrom(from);
  });

  it('system calls: user namespaces, io_uring, mount, escape classics, device nodes, raw sockets', async () => {
    const from = table.rows.length;
    type Res = { ok: boolean; errno: string | null; ret?: number };
    const s = await probe<{ userns: Record<string, Res>; io_uring_setup: Res; mount: Res; others: Record<string, Res>; mknod: Res; raw: Record<string, Res> }>('syscalls');
    const blocked = (r: Res) => !r.ok && (r.errno === 'EPERM' || r.errno === 'ENOSYS');
    const list = (m: Record<string, Res>) => Object.entries(m).map(([k, r]) => `${k}: ${r.ok ? `allowed (${r.ret ?? 'ok'})` : r.errno}`).join(', ');
    table.add({ finding: 'H4', attack: 'create a user namespace (clone, clone3, unshare with CLONE_NEWUSER)', expected: 'all refused (EPERM/ENOSYS)', seen: list(s.userns), pass: Object.values(s.userns).every(blocked) });
    table.add({ finding: 'H4', attack: 'io_uring_setup(2)', expected: 'refused (EPERM/ENOSYS)', seen: list({ io_uring_setup: s.io_uring_setup }), pass: blocked(s.io_uring_setup) });
    table.add({ finding: 'H4', attack: 'mount(2) a tmpfs', expected: 'refused (EPERM)', seen: list({ mount: s.mount }), pass: !s.mount.ok });
    table.add({ finding: 'H4', attack: 'escape classics: bpf, perf_event_open, userfaultfd, keyctl, setns, pivot_root, open_by_handle_at', expected: 'each refused (EPERM/ENOSYS)', seen: list(s.others), pass: Object.values(s.others).every(blocked) });
    table.add({ finding: 'H1', attack: 'mknod a block device (CAP_MKNOD)', expected: 'refused (EPERM)', seen: list({ mknod: s.mknod }), pass: !s.mknod.ok });
    table.add({ finding: 'H2', attack: 'raw sockets for ARP/IPv6 RA spoofing (AF_PACKET, raw ICMP)', expected: 'refused (no NET_RAW): EPERM', seen: list(s.raw), pass: Object.values(s.raw).every((r) => !r.ok) });
    table.assertFrom(from);
  });

  it('fork bomb: stopped by the pids limit; the victim keeps answering', async () => {
    const from = table.rows.length;
    const watch = watchVictim();
    const bomb = await table.try('M5', 'fork bomb (tasks until clone fails, then fork())', 'stopped at the pids limit (EAGAIN); victim answers throughout', async () => {
      const r = await probe<{ pidsMax: string; pidsCurrentAtPeak: string; started: number; stoppedBy: string | null; forkAtPeak: string; cap: number; seconds: number }>('forkbomb', { cap: 10_000 });
      const limited = /^\d+$/.test(r.pidsMax);
      return {
        seen: `pids.max=${r.pidsMax}; ${r.started} tasks in ${r.seconds} s (cap ${r.cap}), stopped by ${r.stoppedBy ?? 'nothing'}, pids.current at peak ${r.pidsCurrentAtPeak}, fork() at peak: ${r.forkAtPeak}`,
        pass: limited && r.stoppedBy !== null && r.started < r.cap && r.forkAtPeak !== 'ok',
      };
    });
    const v = await watch.stop();
    bomb.seen += `; ${v}`;
    bomb.pass &&= victimFine(v);
    table.assertFrom(from);
  });

  it('memory hog: OOM-killed at its own limit; the victim keeps answering', async () => {
    const from = table.rows.length;
    const watch = watchVictim();
    const row = await table.try('M5', 'memory hog (allocate and touch 16 MiB at a time)', 'SIGKILLed by the OOM killer at the memory limit; victim answers', async () => {
      const r = await probe<{ limit: number; cap?: number; allocated?: number; killedBy?: number | null; exitCode?: number | null; skipped?: string; failcnt?: string }>('memhog');
      if (r.skipped) return { seen: `memory.limit_in_bytes=${r.limit}: ${r.skipped}`, pass: false };
      const mib = (n = 0) => `${Math.round(n / 2 ** 20)} MiB`;
      return {
        seen: `limit ${mib(r.limit)}; hog reached ${mib(r.allocated)}, ${r.killedBy ? `killed by signal ${r.killedBy}` : `exited ${r.exitCode}`}, failcnt ${r.failcnt}`,
        pass: r.killedBy === 9 && (r.allocated ?? Infinity) <= r.limit + 64 * 2 ** 20,
      };
    });
    const v = await watch.stop();
    row.seen += `; ${v}`;
    row.pass &&= victimFine(v);
    // The hostile web process itself survived (only the hog was chosen).
    assert.equal(json(await p.viaRouter('evil.localhost', '/')).app, HOSTILE);
    table.assertFrom(from);
  });

  it('disk fill in the container\'s writable layer (bounded at 256 MiB, then removed)', async () => {
    const from = table.rows.length;
    const watch = watchVictim();
    const row = await table.try('M5', 'fill the writable layer (/tmp, 1 MiB writes up to 256 MiB)', 'stops at a quota (ENOSPC/EDQUOT), or is noted: no per-container disk quota; removed; victim answers', async () => {
      const r = await probe<{ writtenMb: number; capMb: number; stoppedBy: string | null; removed: boolean; rootFreeMb: number | null }>('diskfill', { capMb: 256 });
      const quota = r.stoppedBy === 'ENOSPC' || r.stoppedBy === 'EDQUOT';
      return {
        seen: `${quota ? `stopped by ${r.stoppedBy} at ${r.writtenMb} MiB` : r.stoppedBy ? `stopped by ${r.stoppedBy} after ${r.writtenMb} MiB` : `wrote ${r.writtenMb} of ${r.capMb} MiB: no quota below that (note: the writable layer shares the host's disk, ${r.rootFreeMb} MiB free)`}; file removed: ${r.removed}`,
        pass: r.removed,
      };
    });
    const v = await watch.stop();
    row.seen += `; ${v}`;
    row.pass &&= victimFine(v);
    table.assertFrom(from);
  });

  it('/proc and /sys: no other tenant\'s processes or env, masked kernel files, read-only knobs, no host state', async () => {
    const from = table.rows.length;
    const e = await probe<{ pids: number; comms: string[]; environReadable: number; secretFound: boolean }>('procenv', { secret: SECRET });
    const foreign = e.comms.filter((c) => !/^(node|python3|bash|sh|launch|sleep)$/.test(c));
    table.add({ finding: 'extra', attack: "read the victim's env via /proc/*/environ (its secret config var)", expected: 'only own processes visible (pid namespace); secret not found', seen: `${e.pids} pids visible (${e.comms.join(', ')}), ${e.environReadable} environ readable, secret found: ${e.secretFound}`, pass: !e.secretFound && foreign.length === 0 });
    const s = await probe<{ reads: Record<string, { ok: boolean; bytes?: number; errno?: string }>; writes: Record<string, { ok: boolean; errno?: string }>; cgroupMkdir: { ok: boolean; errno?: string } }>('procsys');
    const reads = Object.entries(s.reads).map(([f, r]) => `${f}: ${r.ok ? `${r.bytes} bytes` : r.errno}`).join(', ');
    table.add({ finding: 'extra', attack: 'read /proc/kcore, /proc/keys, /proc/timer_list, /sys/firmware', expected: 'masked: nothing readable (0 bytes or an error)', seen: reads, pass: Object.values(s.reads).every((r) => !r.ok || r.bytes === 0) });
    const writes = Object.entries(s.writes).filter(([f]) => !f.startsWith('/sys/fs/cgroup')).map(([f, r]) => `${f}: ${r.ok ? 'writable' : r.errno}`).join(', ');
    table.add({ finding: 'extra', attack: 'open for writing /proc/sysrq-trigger, /proc/sys/kernel/core_pattern, /proc/sys/vm/drop_caches, /proc/sys/net, /sys/kernel', expected: 'refused (EROFS/EACCES)', seen: writes, pass: Object.entries(s.writes).filter(([f]) => !f.startsWith('/sys/fs/cgroup')).every(([, r]) => !r.ok) });
    const cg = Object.entries(s.writes).filter(([f]) => f.startsWith('/sys/fs/cgroup'));
    table.add({ finding: 'M5', attack: 'raise its own cgroup limits (write /sys/fs/cgroup/*, mkdir a cgroup)', expected: 'refused (EROFS/EACCES)', seen: `${cg.map(([f, r]) => `${f}: ${r.ok ? 'writable' : r.errno}`).join(', ')}, mkdir: ${s.cgroupMkdir.ok ? 'made (and removed)' : s.cgroupMkdir.errno}`, pass: cg.every(([, r]) => !r.ok) && !s.cgroupMkdir.ok });
    const paths = [join(p.dir, 'home', 'admin-token'), join(p.dir, 'home', 'git'), join(p.dir, 'run', 'agent.sock'), join(p.dir, 'run', 'redis.sock'), '/var/lib/slipway/admin-token', '/run/slipway/agent.sock', '/var/run/docker.sock'];
    const h = await probe<Record<string, boolean>>('hostpaths', { paths: paths.join(',') });
    const present = Object.entries(h).filter(([, v]) => v).map(([k]) => k);
    table.add({ finding: 'M2', attack: "reach the platform's state or sockets (admin-token, agent.sock, redis.sock, git repos)", expected: 'none of them exists in the container', seen: present.length ? `present: ${present.join(', ')}` : `none of ${paths.length} paths exists`, pass: present.length === 0 });
    table.assertFrom(from);
  });

  it('network: the victim container, its published port, the control plane, 127.0.0.1 through route_localnet, IPv6', async () => {
    const from = table.rows.length;
    type Conn = { target: string; result: string; ms: number; answer: string };
    const show = (c: Conn[]) => c.map((x) => `${x.target} ${x.result}${x.answer ? ` ("${x.answer.split('\r\n')[0]}")` : ''}`).join(', ');
    const direct = await probe<Conn[]>('connect', { targets: `${victim.ip}:${victim.port}` });
    table.add({ finding: 'H2', attack: `TCP to the victim container (${victim.ip}:${victim.port}, found through the agent)`, expected: 'refused or timed out', seen: show(direct), pass: direct.every((c) => c.result !== 'connected') });
    if (victim.hostPort) {
      const pub = await probe<Conn[]>('connect', { targets: `${evil.gateway}:${victim.hostPort}` });
      table.add({ finding: 'M7', attack: `the victim's published host port through the bridge gateway (${evil.gateway}:${victim.hostPort})`, expected: 'refused or timed out (only the router reaches it)', seen: show(pub), pass: pub.every((c) => c.result !== 'connected') });
    } else {
      table.add({ finding: 'M7', attack: "the victim's published host port through the bridge gateway", expected: 'refused or timed out (only the router reaches it)', seen: 'the victim publishes no host port', pass: true });
    }
    const cp = Object.entries(p.ports).map(([name, port]) => ({ name, target: `${evil.gateway}:${port}` }));
    const conns = await probe<Conn[]>('connect', { targets: cp.map((c) => c.target).join(',') });
    table.add({ finding: 'M7 M8', attack: `control-plane ports on the bridge gateway (${cp.map((c) => `${c.name} ${c.target.split(':')[1]}`).join(', ')})`, expected: 'each refused or timed out', seen: show(conns), pass: conns.every((c) => c.result !== 'connected') });
    const ln = await probe<{ raw: boolean; errno?: string; answer: string | null; gateway?: string; note?: string }>('localnet', { port: p.ports.api });
    table.add({ finding: 'M7', attack: `127.0.0.1:${p.ports.api} (the API) through route_localnet: a raw SYN framed to the gateway's MAC`, expected: 'no answer (no raw socket, or the martian is dropped)', seen: ln.raw ? `raw socket made; answer from 127.0.0.1: ${ln.answer ?? 'none'}${ln.note ? ` (${ln.note})` : ''}` : `raw socket refused (${ln.errno})`, pass: !ln.raw || ln.answer === null });
    const v6 = await probe<{ addresses: string[]; disableAll: string; disableEth0: string }>('ipv6');
    table.add({ finding: 'H2 L7', attack: 'IPv6 inside the container (link-local neighbours, router advertisements)', expected: 'off: no IPv6 address on eth0', seen: `addresses: ${v6.addresses.join(', ') || 'none'}; disable_ipv6 all=${v6.disableAll} eth0=${v6.disableEth0}`, pass: v6.addresses.length === 0 });
    table.assertFrom(from);
  });
});

describe('abuse suite: through the public surfaces with the hostile tenant\'s tokens', { timeout: 900_000 }, () => {
  // A slowloris connection runs beside everything below; the router must cut it at its head deadline.
  const SLOWLORIS_BOUND_S = 35;
  let slowloris: Promise<string>;
  before(() => {
    slowloris = new Promise((resolve) => {
      const t0 = Date.now();
      const s = connect({ host: '127.0.0.1', port: p.ports.http });
      let got = '';
      let timer: NodeJS.Timeout | undefined;
      s.on('connect', () => {
        s.write('GET / HTTP/1.1\r\nHost: victim.localhost\r\nX-Slow: ');
        timer = setInterval(() => s.write('a'), 1000);
      });
      s.on('data', (d) => (got += d.toString('latin1')));
      const end = (why: string) => {
        clearInterval(timer);
        s.destroy();
        resolve(why);
      };
      s.on('close', () => end(`cut after ${((Date.now() - t0) / 1000).toFixed(1)} s${got ? ` with "${got.split('\r\n')[0]}"` : ''}`));
      s.on('error', () => undefined);
      setTimeout(() => end(`still open after ${SLOWLORIS_BOUND_S} s (one byte a second)`), SLOWLORIS_BOUND_S * 1000);
    });
  });

  it('builds: run as app with no capabilities; BUILDPACK_URL cannot read host files or clone other tenants\' repos', async () => {
    const from = table.rows.length;
    const config = (vars: Record<string, string | null>) => p.api(mallory.deploy, 'PATCH', '/apps/evil/config', vars);
    const lastBuildLog = async () => {
      const list = await p.api(mallory.deploy, 'GET', '/apps/evil/builds?limit=1');
      const id = (json(list).items as { id: string }[] | undefined)?.[0]?.id;
      return id ? (await p.api(mallory.deploy, 'GET', `/apps/evil/builds/${id}`)).text : '';
    };
    await table.try('H1 M1', 'build process identity (an inline buildpack, BUILDPACK_URL=.)', 'not uid 0, CapEff 0, NoNewPrivs 1', async () => {
      const set = await config({ BUILDPACK_URL: '.' });
      if (set.status >= 300) return { seen: `BUILDPACK_URL=. refused: ${short(set)}`, pass: false };
      const r = await pushAgain(mallory, 'build identity');
      const line = /BUILD-IDENTITY uid=(\d+) (.*)/.exec(r.out);
      if (!line) return { seen: `no identity line in the push: ${r.out.slice(-200)}`, pass: false };
      const cap = /CapEff: ([0-9a-f]+)/.exec(line[2]!)?.[1];
      const nnp = /NoNewPrivs: (\d)/.exec(line[2]!)?.[1];
      return { seen: `uid ${line[1]}, CapEff ${cap}, NoNewPrivs ${nnp}`, pass: line[1] !== '0' && /^0+$/.test(cap ?? '') && nnp === '1' };
    });
    const adminToken = p.adminToken;
    const tokenFile = join(p.dir, 'home', 'admin-token');
    await table.try('C1', `BUILDPACK_URL=file://<own repo>#--pathspec-from-file=${tokenFile}`, 'refused; the file\'s content nowhere (API answer, push output, build record)', async () => {
      const url = `file://${join(p.dir, 'home', 'git', `${mallory.appId}.git`)}#--pathspec-from-file=${tokenFile}`;
      const set = await config({ BUILDPACK_URL: url });
      const r = set.status < 300 ? await pushAgain(mallory, 'pathspec') : null;
      const record = r ? await lastBuildLog() : '';
      const leaked = [set.text, r?.out ?? '', record].some((t) => t.includes(adminToken));
      return { seen: `config: ${set.status}${r ? `; push exit ${r.code}: ${r.out.split('\n').filter((l) => /buildpack|error|fatal/i.test(l)).slice(0, 2).join(' / ').slice(0, 200)}` : ''}; admin token leaked: ${leaked}`, pass: !leaked };
    });
    await table.try('C1', "BUILDPACK_URL = the victim's repo on the host (file:// URL, then a bare path)", "refused; the victim's repository is never cloned", async () => {
      const seen: string[] = [];
      let cloned = false;
      let allRefused = true;
      for (const url of [`file://${join(p.dir, 'home', 'git', `${alice.appId}.git`)}`, join(p.dir, 'home', 'git', `${alice.appId}.git`)]) {
        const set = await config({ BUILDPACK_URL: url });
        if (set.status >= 300) {
          seen.push(`${url.slice(0, 7)}…: config ${set.status}`);
          continue;
        }
        const r = await pushAgain(mallory, 'victim repo');
        const ran = r.out.includes('VICTIM-REPO-CLONED');
        cloned ||= ran;
        allRefused &&= r.code !== 0 && !ran;
        const lines = r.out.split('\n').map((l) => l.replace(/^remote:\s*/, '').trim());
        const why = (lines.filter((l) => /buildpack/i.test(l) && !/^-----> Fetching/.test(l)).pop() ?? lines.filter((l) => /!|error|fatal/i.test(l)).pop() ?? '').slice(0, 120);
        seen.push(`${url.slice(0, 7)}…: config ${set.status}, push exit ${r.code}, ${ran ? "the victim's repo was cloned and its buildpack ran" : `not cloned (${why})`}`);
      }
      return { seen: seen.join('; '), pass: !cloned && allRefused };
    });
    const reset = await config({ BUILDPACK_URL: null });
    assert.ok(reset.status < 300 || reset.status === 422, short(reset));
    table.assertFrom(from);
  });

  it('routes and domains: no path route on the victim\'s host, no takeover by delete-and-recreate, no domain under the platform\'s', async () => {
    const from = table.rows.length;
    await table.try('H3', "a path route / on the victim's host (victim.localhost) to the hostile app", '403; the victim keeps its host', async () => {
      const r = await p.api(mallory.owner, 'POST', '/apps/evil/routes', { host: 'victim.localhost', path: '/' });
      await sleep(1000);
      const served = json(await p.viaRouter('victim.localhost', '/')).app;
      return { seen: `${short(r)}; victim.localhost now served by ${served}`, pass: r.status === 403 && served === VICTIM };
    });
    await table.try('H3', 'takeover: route / of shop.localhost to the hostile app, delete shop, the victim creates shop', "the new shop is never served by the hostile app", async () => {
      const mk = await p.api(mallory.owner, 'POST', '/apps', { name: 'shop' });
      const route = await p.api(mallory.owner, 'POST', '/apps/evil/routes', { host: 'shop.localhost', path: '/' });
      const del = await p.api(mallory.owner, 'DELETE', '/apps/shop');
      const re = await p.api(alice.owner, 'POST', '/apps', { name: 'shop' });
      const answers: string[] = [];
      for (let i = 0; i < 8; i++) {
        await sleep(400);
        const a = await p.viaRouter('shop.localhost', '/', 5000).catch((e: Error) => ({ status: 0, text: e.message, body: null }));
        answers.push(a.text.includes(HOSTILE) ? 'hostile' : String(a.status));
      }
      const routes = await p.api(mallory.owner, 'GET', '/apps/evil/routes');
      const kept = routes.text.includes('shop.localhost');
      await p.api(alice.owner, 'DELETE', '/apps/shop');
      return {
        seen: `create ${mk.status}, route ${route.status}, delete ${del.status}, victim's create ${re.status}; router answers: ${[...new Set(answers)].join('/')}; evil still lists the route: ${kept} (inert or gone is the fix's choice)`,
        pass: re.status === 201 && !answers.includes('hostile'),
      };
    });
    await table.try('H3 L2', 'custom domains under the platform domain (*.localhost, payments.localhost)', 'refused (4xx)', async () => {
      const seen: string[] = [];
      let ok = true;
      for (const domain of ['*.localhost', 'payments.localhost']) {
        const r = await p.api(mallory.owner, 'POST', '/apps/evil/domains', { domain });
        seen.push(`${domain}: ${r.status}`);
        ok &&= refused(r);
        if (r.status < 300) await p.api(mallory.owner, 'DELETE', `/apps/evil/domains/${encodeURIComponent(domain)}`);
      }
      return { seen: seen.join(', '), pass: ok };
    });
    table.assertFrom(from);
  });

  it('router: absolute-form requests, header names with _, Connection: host', async () => {
    const from = table.rows.length;
    const bodyOf = (raw: string) => {
      const i = raw.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1] ?? 0);
      const text = i >= 0 ? raw.slice(i + 4) : '';
      const start = text.indexOf('{');
      let body: { app?: string; host?: string; headers?: string[] } = {};
      try {
        body = JSON.parse(text.slice(start, text.lastIndexOf('}') + 1));
      } catch { /* not JSON (a router page, chunked framing) */ }
      return { status, body };
    };
    const names = (h: string[] = []) => h.filter((_, i) => i % 2 === 0);
    const header = (h: string[] = [], name: string) => {
      const i = h.findIndex((x, k) => k % 2 === 0 && x.toLowerCase() === name);
      return i < 0 ? undefined : h[i + 1];
    };
    await table.try('M4', 'absolute-form GET http://victim.localhost/echo with Host: evil.localhost', 'the backend that answers sees its own Host (rewritten), or 400', async () => {
      const raw = await p.rawRouter('GET http://victim.localhost/echo HTTP/1.1\r\nHost: evil.localhost\r\nConnection: close\r\n\r\n');
      const { status, body } = bodyOf(raw);
      const host = (body.host ?? '').split(':')[0];
      const consistent = (body.app === VICTIM && host === 'victim.localhost') || (body.app === HOSTILE && host === 'evil.localhost');
      return { seen: status === 400 ? '400' : `${status}, answered by ${body.app ?? '?'}, which saw Host: ${body.host ?? '?'}`, pass: status === 400 || consistent };
    });
    await table.try('M4', 'header names with _ (X_Forwarded_For, X_Real_IP) to the victim', 'dropped before the backend', async () => {
      const raw = await p.rawRouter('GET /echo HTTP/1.1\r\nHost: victim.localhost\r\nX_Forwarded_For: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\nConnection: close\r\n\r\n');
      const { status, body } = bodyOf(raw);
      const under = names(body.headers).filter((n) => n.includes('_'));
      return { seen: `${status}; the backend saw ${under.length ? under.join(', ') : 'no name with _'}`, pass: status === 200 && under.length === 0 || status === 400 };
    });
    await table.try('M4', 'Connection: host, x-forwarded-for (drop Host and X-Forwarded-For as hop-by-hop)', 'the backend still sees Host and X-Forwarded-For', async () => {
      const raw = await p.rawRouter('GET /echo HTTP/1.1\r\nHost: victim.localhost\r\nConnection: host, x-forwarded-for, close\r\n\r\n');
      const { status, body } = bodyOf(raw);
      const host = header(body.headers, 'host');
      const xff = header(body.headers, 'x-forwarded-for');
      return { seen: status === 400 ? '400' : `${status}; Host: ${host ?? 'missing'}, X-Forwarded-For: ${xff ?? 'missing'}`, pass: status === 400 || (status === 200 && !!host && !!xff) };
    });
    table.assertFrom(from);
  });

  it('tokens and users: scopes hold, admin-only routes stay admin-only, user names do not leak', async () => {
    const from = table.rows.length;
    await table.try('L3', 'an app-scoped admin token on /v1/users and /v1/audit', '403 on both', async () => {
      const t = await p.api(p.adminToken, 'POST', '/tokens', { role: 'admin', app: 'evil', description: 'contractor' });
      const token = (json(t) as { token?: string }).token;
      if (!token) return { seen: `could not make one: ${short(t)}`, pass: false };
      const users = await p.api(token, 'GET', '/users');
      const audit = await p.api(token, 'GET', '/audit');
      return { seen: `/v1/users ${users.status}, /v1/audit ${audit.status}`, pass: users.status === 403 && audit.status === 403 };
    });
    await table.try('L8', 'user enumeration: GET /v1/apps/evil/access/alice vs /access/nobody', 'the same answer for a user who exists and one who does not', async () => {
      const nobody = `nobody${randomBytes(3).toString('hex')}`;
      const a = await p.api(mallory.owner, 'GET', '/apps/evil/access/alice');
      const b = await p.api(mallory.owner, 'GET', `/apps/evil/access/${nobody}`);
      const norm = (x: ApiAnswer, name: string) => `${x.status} ${x.text.split(name).join('NAME')}`;
      return { seen: `alice: ${short(a)}; ${nobody}: ${short(b)}`, pass: norm(a, 'alice') === norm(b, nobody) };
    });
    await table.try('extra', 'deploy token (CI) makes apps or tokens wider than itself', '403/404 on each', async () => {
      const tries: [string, ApiAnswer][] = [
        ['POST /apps', await p.api(mallory.deploy, 'POST', '/apps', { name: 'evil2' })],
        ['owner token for evil', await p.api(mallory.deploy, 'POST', '/tokens', { role: 'owner', app: 'evil' })],
        ['deploy token for all apps', await p.api(mallory.deploy, 'POST', '/tokens', { role: 'deploy' })],
        ['deploy token for victim', await p.api(mallory.deploy, 'POST', '/tokens', { role: 'deploy', app: 'victim' })],
      ];
      for (const [, a] of tries) if (a.status === 201 && json(a).name === 'evil2') await p.api(mallory.owner, 'DELETE', '/apps/evil2');
      return { seen: tries.map(([w, a]) => `${w}: ${a.status}`).join(', '), pass: tries.every(([, a]) => a.status === 403 || a.status === 404) };
    });
    await table.try('extra', "the hostile owner token on the victim's app (read config, set config, run)", '404 on each (the app is invisible)', async () => {
      const tries: [string, ApiAnswer][] = [
        ['GET config', await p.api(mallory.owner, 'GET', '/apps/victim/config')],
        ['PATCH config', await p.api(mallory.owner, 'PATCH', '/apps/victim/config', { X: '1' })],
        ['POST run', await p.api(mallory.owner, 'POST', '/apps/victim/run', { command: 'env' })],
      ];
      return { seen: tries.map(([w, a]) => `${w}: ${a.status}`).join(', '), pass: tries.every(([, a]) => a.status === 404) };
    });
    await table.try('L4', "the hostile tenant's git push is in the audit log", 'an audit entry for the push to evil', async () => {
      const a = await p.api(p.adminToken, 'GET', '/audit?app=evil&limit=500');
      const items = (json(a).items as { method: string; route: string; path: string }[] | undefined) ?? [];
      const pushes = items.filter((e) => /git|push/i.test(`${e.route} ${e.path} ${e.method}`));
      return { seen: `${a.status}; ${items.length} entries for evil, ${pushes.length} about git pushes${pushes[0] ? ` (${pushes[0].method} ${pushes[0].route})` : ''}`, pass: pushes.length > 0 };
    });
    table.assertFrom(from);
  });

  it("logs: the hostile app's control characters do not reach a viewer's terminal raw", async () => {
    const from = table.rows.length;
    await table.try('L6', 'the app logs an OSC title, a BEL and a clear-screen; an operator runs slipway logs in a terminal', 'printed escaped (no raw ESC or BEL reaches the terminal)', async () => {
      const mark = `slwt-pwned-${randomBytes(3).toString('hex')}`;
      await p.viaRouter('evil.localhost', `/probe/say?${new URLSearchParams({ text: `\x1b]0;${mark}\x07\x1b[2J${mark}-end` })}`);
      const env = { ...process.env, NO_COLOR: '1', SLIPWAY_URL: `http://127.0.0.1:${p.ports.api}`, SLIPWAY_TOKEN: p.adminToken };
      let out = '';
      for (let i = 0; i < 20 && !out.includes(`${mark}-end`); i++) {
        if (i) await sleep(500);
        // `script` gives the CLI a terminal, as an operator's shell would.
        out = (await execFileP('script', ['-qfec', `${process.execPath} ${BIN} logs -a evil -n 200`, '/dev/null'], { env, timeout: 30_000, maxBuffer: 16 * 2 ** 20 })).stdout;
      }
      if (!out.includes(`${mark}-end`)) return { seen: `the line never showed in slipway logs: ${JSON.stringify(out.slice(-200))}`, pass: false };
      const raw = /[\x1b\x07]/.test(out);
      const line = out.split('\n').find((l) => l.includes(`${mark}-end`)) ?? '';
      return { seen: `${raw ? 'raw control characters reached the terminal' : 'escaped'}: ${JSON.stringify(line.trim()).slice(0, 160)}`, pass: !raw };
    });
    table.assertFrom(from);
  });

  it('log flood: the hostile app logs as fast as it can; the victim\'s config:set still deploys; retention caps hold', async () => {
    const from = table.rows.length;
    await table.try('H5', 'raise its log retention to 10,000,000 lines (PATCH log-settings)', 'refused (4xx): an owner may not raise it that far', async () => {
      const r = await p.api(mallory.owner, 'PATCH', '/apps/evil/log-settings', { maxLines: 10_000_000 });
      return { seen: short(r), pass: refused(r) };
    });
    await table.try('H5', 'flood: 64 KiB lines as fast as it can (up to 6 s / 256 MiB) while the victim sets config', "the victim's config:set deploys (200, succeeded)", async () => {
      const flood = probe<{ lines: number; lineBytes: number; seconds: number }>('flood', { seconds: 6, lineBytes: 65536, maxMb: 256 }, 40_000);
      await sleep(1500);
      const t0 = Date.now();
      const set = await p.api(alice.deploy, 'PATCH', '/apps/victim/config?wait=true', { FLOOD_CHECK: String(Date.now()) }, 120_000);
      const took = ((Date.now() - t0) / 1000).toFixed(1);
      const f = await flood;
      const state = (json(set).deployment as { state?: string } | null)?.state;
      const still = json(await p.viaRouter('victim.localhost', '/')).app;
      return {
        seen: `flood wrote ${f.lines} lines (${Math.round((f.lines * f.lineBytes) / 2 ** 20)} MiB) in ${f.seconds} s; victim config:set ${set.status} ${state ?? ''} in ${took} s; victim serves: ${still === VICTIM}`,
        pass: set.status === 200 && state === 'succeeded' && still === VICTIM,
      };
    });
    table.assertFrom(from);
  });

  it('slowloris: a request head sent one byte a second is cut at the router\'s head deadline', async () => {
    const from = table.rows.length;
    const seen = await slowloris;
    const cut = /^cut after ([\d.]+) s/.exec(seen);
    table.add({ finding: 'M5', attack: 'slowloris: request head one byte a second to the router', expected: `closed (408 or reset) within ${SLOWLORIS_BOUND_S} s`, seen, pass: !!cut && Number(cut[1]) < SLOWLORIS_BOUND_S });
    table.assertFrom(from);
  });

  it('tenant-named URLs: log drains and image URLs to loopback and the victim\'s address are refused', async () => {
    const from = table.rows.length;
    // What an SSRF would reach: a listener of the test on loopback, counting whoever connects.
    let hits = 0;
    const tcp = createTcpServer((s) => {
      hits++;
      s.destroy();
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
    const port = (tcp.address() as { port: number }).port;
    const http: Server = createHttpServer((_req, res) => {
      hits++;
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const httpPort = (http.address() as { port: number }).port;
    try {
      await table.try('M6', `log drains to syslog://127.0.0.1:${port}, https://127.0.0.1:${httpPort}, syslog://${victim.ip}:${victim.port}`, '422 on each; nothing connects', async () => {
        const urls = [`syslog://127.0.0.1:${port}`, `https://127.0.0.1:${httpPort}/drain`, `syslog://${victim.ip}:${victim.port}`];
        const answers: ApiAnswer[] = [];
        for (const url of urls) answers.push(await p.api(mallory.owner, 'POST', '/apps/evil/drains', { url }));
        if (answers.some((a) => a.status < 300)) {
          await p.viaRouter('evil.localhost', '/probe/say?text=drain-check');
          await sleep(3000);
        }
        for (const a of answers) if (a.status < 300 && json(a).id) await p.api(mallory.owner, 'DELETE', `/apps/evil/drains/${String(json(a).id)}`);
        return { seen: `${answers.map((a) => a.status).join(', ')}; connections to the loopback listener: ${hits}`, pass: answers.every((a) => a.status === 422) && hits === 0 };
      });
      const before = hits;
      await table.try('M3', `releases with imageUrl http://127.0.0.1:${httpPort}, localhost, [::1], 0.0.0.0, the victim's address`, '422 on each; nothing fetched', async () => {
        const urls = [`http://127.0.0.1:${httpPort}/i.tar`, `http://localhost:${httpPort}/i.tar`, `http://[::1]:${httpPort}/i.tar`, `http://0.0.0.0:${httpPort}/i.tar`, `http://${victim.ip}:${victim.port}/i.tar`];
        const answers: ApiAnswer[] = [];
        for (const [i, imageUrl] of urls.entries()) {
          answers.push(await p.api(mallory.deploy, 'POST', '/apps/evil/releases', { image: `slwt-ssrf:${i}`, imageUrl, procfile: { web: 'node web.js' } }));
        }
        if (answers.some((a) => a.status < 300)) await sleep(3000);
        return { seen: `${answers.map((a) => a.status).join(', ')}; fetches from the loopback listener: ${hits - before}`, pass: answers.every((a) => a.status === 422) && hits === before };
      });
    } finally {
      tcp.close();
      http.close();
    }
    table.assertFrom(from);
  });

  it("releases of the victim's image (tag, full id, short id) are refused", async () => {
    // Last (with the image URLs before it): an accepted release changes what the hostile app runs.
    const from = table.rows.length;
    const rel = await p.api(p.adminToken, 'GET', '/apps/victim/releases?limit=1');
    const top = ((json(rel).items as { image?: string; imageParent?: string }[] | undefined) ?? [])[0] ?? {};
    const agent = connectAgent({ socketPath: join(p.dir, 'run', 'agent.sock') });
    const img = (await agent.listImages()).find((i) => (i.RepoTags ?? []).includes(top.image ?? '') || i.Id === top.image);
    const id = (img?.Id ?? '').replace(/^sha256:/, '');
    const attempts: [string, string][] = [['its tag', top.image ?? ''], ['its full id', id ? `sha256:${id}` : ''], ['a 4-hex short id', id.slice(0, 4)]];
    for (const [what, image] of attempts) {
      await table.try('M3', `POST /v1/apps/evil/releases with the victim's image: ${what} (${image.slice(0, 24)})`, 'refused (4xx): an app releases only images it owns', async () => {
        if (!image) return { seen: `could not find the victim's image (release ${JSON.stringify(top).slice(0, 100)})`, pass: false };
        const r = await p.api(mallory.deploy, 'POST', '/apps/evil/releases', { image, ...(top.imageParent ? { imageParent: top.imageParent } : {}), procfile: { web: 'node web.js' } });
        return { seen: short(r), pass: refused(r) };
      });
    }
    table.assertFrom(from);
  });
});
