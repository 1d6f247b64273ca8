// Cold start after a crash (issue 6): a detached platform runs an app; every Slipway process it
// started (the `up` process, its children, Redis) is SIGKILLed, SLIPWAY_RUN is removed, and the
// containers, their conmon monitors, netns, veths and iptables rules stay behind as after a real
// crash. `slipway up` again cleans what is stale and brings the app back to its formation, through
// the router; `slipway down` then leaves nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { findLeaks } from '../helpers/leaks.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { freePort, sleep, until } from '../helpers/wait.ts';
import { httpGet } from '../helpers/http.ts';

const execFileP = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const dir = mkdtempSync(join(tmpdir(), 'slwt-crash-'));
const run = join(dir, 'run');
const env: NodeJS.ProcessEnv & Record<'SLIPWAY_PREFIX' | 'SLIPWAY_HTTP_PORT', string> = {
  ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: run, SLIPWAY_PREFIX: testPrefix('c'), SLIPWAY_API_PORT: String(await freePort()),
  SLIPWAY_HTTP_PORT: String(await freePort()), SLIPWAY_HTTPS_PORT: String(await freePort()), SLIPWAY_ROUTER_ADMIN_PORT: String(await freePort()),
  SLIPWAY_BLOB_PORT: String(await freePort()),
};
delete env.SLIPWAY_REDIS_URL;
const slipway = (args: string[], timeout = 120_000) => execFileP(process.execPath, [BIN, ...args], { env, timeout });
const viaRouter = (app: string) => httpGet(Number(env.SLIPWAY_HTTP_PORT), '/', { host: `${app}.localhost` });
const api = `http://127.0.0.1:${env.SLIPWAY_API_PORT}`;

const pids = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number);
const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};
const ppid = (pid: number) => {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
  } catch {
    return -1;
  }
};
const readPid = (file: string) => {
  try {
    return Number(readFileSync(join(run, file), 'utf8').trim()) || null;
  } catch {
    return null;
  }
};
/** The platform's own processes: the pid files' pids and the `up` process's descendants (not conmon, which daemonizes away). */
function platformPids(): number[] {
  const roots = [readPid('slipway.pid'), readPid('redis.pid')].filter((p): p is number => p !== null);
  const found = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of pids()) {
      if (!found.has(p) && found.has(ppid(p))) {
        found.add(p);
        grew = true;
      }
    }
  }
  return [...found];
}

async function processes(token: string, app: string): Promise<{ id: string; state: string; registered: boolean }[]> {
  const r = await fetch(`${api}/v1/apps/${app}/processes`, { headers: { authorization: `Bearer ${token}` } });
  return r.status === 200 ? ((await r.json()) as { items: { id: string; state: string; registered: boolean }[] }).items : [];
}

/** SIGKILLs every process of the platform (only those: never a monitor or a container). */
async function crash(): Promise<void> {
  const victims = platformPids();
  assert.ok(victims.length >= 2, `the up process and redis: ${victims.join(' ')}`);
  for (const p of victims) assert.ok(!/conmon|runc/.test(cmdline(p).split(' ')[0]!), `not a monitor: ${cmdline(p)}`);
  for (const p of victims) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await until('the platform processes gone', () => victims.every((p) => !existsSync(`/proc/${p}`) || cmdline(p) === ''), 10_000);
}

after(async () => {
  // SLIPWAY_TEST_KEEP_LOG=N prints the platform log's last N lines (debugging a failure).
  if (process.env.SLIPWAY_TEST_KEEP_LOG) {
    try {
      process.stderr.write(readFileSync(join(dir, 'home', 'logs', 'slipway.log'), 'utf8').split('\n').slice(-Number(process.env.SLIPWAY_TEST_KEEP_LOG)).join('\n'));
    } catch {
      /* no log */
    }
  }
  await slipway(['down'], 70_000).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('a platform that survives a crash', () => {
  it('comes back after SIGKILL of every process, with SLIPWAY_RUN lost and kept, and goes down clean', { timeout: 360_000 }, async () => {
    await slipway(['up', '--detach']);
    const token = readFileSync(join(dir, 'home', 'admin-token'), 'utf8').trim();
    const v1 = (method: string, path: string, body?: unknown) => fetch(`${api}/v1${path}`, {
      method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.equal((await v1('POST', '/apps', { name: 'phoenix' })).status, 201);
    const web = `node -e "require('http').createServer((q, s) => s.end('alive ' + process.env.DYNO)).listen(process.env.PORT)"`;
    const released = await v1('POST', '/apps/phoenix/releases?wait=true', { image: 'slipway/stack:bookworm', procfile: { web } });
    assert.equal(released.status, 201, await released.clone().text());
    const scaled = await v1('PATCH', '/apps/phoenix/formation?wait=true', { web: 2 });
    assert.ok(scaled.status < 300, await scaled.clone().text());
    await until('two web processes', async () => (await processes(token, 'phoenix')).filter((p) => p.state === 'running' && p.registered).length === 2, 60_000, 250);
    assert.match((await viaRouter('phoenix')).body, /^alive web\.\d$/);

    // The crash: SIGKILL every process of the platform (only those), then lose SLIPWAY_RUN.
    await crash();
    rmSync(run, { recursive: true, force: true });
    const stale = await findLeaks(env.SLIPWAY_PREFIX, { runcRoots: [] });
    assert.ok(stale.some((l) => l.startsWith('netns ')), `stale netns left behind: ${stale.join('\n')}`);
    assert.ok(stale.some((l) => l.startsWith('iptables ')), 'stale rules left behind');

    // Cold start: stale state cleaned, the formation back, served through the router.
    const t0 = Date.now();
    await slipway(['up', '--detach']);
    await until('the formation back', async () => (await processes(token, 'phoenix')).filter((p) => p.state === 'running' && p.registered).length === 2, 90_000, 250);
    const answer = await until('served through the router', async () => {
      const r = await viaRouter('phoenix').catch(() => null);
      return r?.status === 200 ? r.body : null;
    }, 30_000, 200);
    assert.match(answer, /^alive web\.\d$/);
    const recoveredMs = Date.now() - t0;
    // Nothing of the dead containers is left: only the two new ones' netns and veths exist.
    const netns = (await findLeaks(env.SLIPWAY_PREFIX, { runcRoots: [] })).filter((l) => l.startsWith('netns '));
    assert.equal(netns.length, 2, netns.join('\n'));
    const dnat = (await execFileP('iptables-save', ['-t', 'nat'])).stdout.split('\n').filter((l) => l.includes(env.SLIPWAY_PREFIX) && l.includes('DNAT --to'));
    assert.equal(dnat.length, 2, dnat.join('\n'));
    const conmons = pids().filter((p) => cmdline(p).startsWith('conmon') || cmdline(p).includes('/conmon ')).filter((p) => cmdline(p).includes(`${env.SLIPWAY_PREFIX}-`));
    assert.equal(conmons.length, 2, `one monitor per running container: ${conmons.map(cmdline).join('\n')}`);
    // `slipway status` on the recovered platform: every component up, the host, the formation.
    const status = JSON.parse((await execFileP(process.execPath, [BIN, 'status', '--json'], { env: { ...env, SLIPWAY_URL: api, SLIPWAY_TOKEN: token } })).stdout) as {
      components: { name: string; ok: boolean; detail: string }[]; hosts: unknown[]; processes: { app: string; running: number }[]; disk: { filesystem: { freeBytes: number } };
    };
    assert.deepEqual(status.components.filter((c) => !c.ok), []);
    assert.equal(status.hosts.length, 1);
    assert.deepEqual(status.processes.map((x) => [x.app, x.running]), [['phoenix', 2]]);
    assert.ok(status.disk.filesystem.freeBytes > 0);
    process.stdout.write(`# recovered in ${(recoveredMs / 1000).toFixed(1)} s\n`);

    // A crash that keeps SLIPWAY_RUN (no reboot), with the pid file naming a live process that is
    // not the platform (a reused pid): up again adopts the same containers, nothing restarts.
    const before = (await processes(token, 'phoenix')).map((x) => x.id).sort();
    await crash();
    writeFileSync(join(run, 'slipway.pid'), `${process.pid}\n`);
    await slipway(['up', '--detach']);
    await until('the same processes back and registered', async () => {
      const now = await processes(token, 'phoenix');
      return now.filter((x) => x.state === 'running' && x.registered).length === 2
        && JSON.stringify(now.map((x) => x.id).sort()) === JSON.stringify(before);
    }, 60_000, 250);
    assert.match((await until('served again', async () => {
      const r = await viaRouter('phoenix').catch(() => null);
      return r?.status === 200 ? r.body : null;
    }, 30_000, 200)), /^alive web\.\d$/);
    assert.equal(pids().filter((p) => cmdline(p).startsWith('/usr/bin/conmon') && cmdline(p).includes(`${env.SLIPWAY_PREFIX}-`)).length, 2, 'the same two monitors');

    await slipway(['down'], 70_000);
    assert.deepEqual(await findLeaks(env.SLIPWAY_PREFIX, { runcRoots: [join(run, 'runc')] }), []);
    await sleep(100);
    const left = pids().filter((p) => cmdline(p).includes(dir));
    assert.deepEqual(left.map(cmdline), []);
  });
});
