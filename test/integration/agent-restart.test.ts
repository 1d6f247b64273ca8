// The agent can die without taking its containers along: SIGKILL it while three containers
// run, start it again, and the same three are running, unrestarted, their logs continuing; a
// container that exited while no agent ran shows its true exit code. Also: containers cannot
// reach the agent's TCP port or a Redis on the host.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startTestAgent, type TestAgent } from '../helpers/agent.ts';
import { freePort, sleep } from '../helpers/wait.ts';

const TOKEN = 'restart-test-token';
let a: TestAgent;


before(async () => {
  a = await startTestAgent({ child: true, tcp: { port: await freePort(), token: TOKEN }, suffix: 'k' });
  const imp = await a.docker(['import', a.busyboxTar, 'bb:1']);
  assert.equal(imp.code, 0, imp.stderr);
});
after(async () => {
  await a.cleanup();
});

const inspect = async (name: string, fmt: string) => (await a.docker(['inspect', '-f', fmt, name])).stdout.trim();

describe('agent restart', () => {
  it('SIGKILL the agent: containers keep running, logs continue, exit codes stay true', { timeout: 60_000 }, async () => {
    for (const n of ['t1', 't2', 't3']) {
      const r = await a.docker(['run', '-d', '--name', n, 'bb:1', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done']);
      assert.equal(r.code, 0, r.stderr);
    }
    const q = await a.docker(['run', '-d', '--name', 'quitter', 'bb:1', 'sh', '-c', 'sleep 2; exit 42']);
    assert.equal(q.code, 0, q.stderr);
    const pids = await Promise.all(['t1', 't2', 't3'].map((n) => inspect(n, '{{.State.Pid}}')));

    await a.killAgent();
    await sleep(3000); // the quitter exits while no agent runs
    await a.startAgentAgain();

    const ps = (await a.docker(['ps', '--format', '{{.Names}} {{.Status}}'])).stdout.trim().split('\n').sort();
    assert.deepEqual(ps.map((l) => l.split(' ')[0]), ['t1', 't2', 't3']);
    for (const [i, n] of ['t1', 't2', 't3'].entries()) {
      assert.equal(await inspect(n, '{{.State.Status}}'), 'running');
      assert.equal(await inspect(n, '{{.RestartCount}}'), '0');
      assert.equal(await inspect(n, '{{.State.Pid}}'), pids[i]); // the same process, not a new one
    }
    assert.equal(await inspect('quitter', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 42');
    const w = await a.docker(['wait', 'quitter']);
    assert.equal(w.stdout.trim(), '42');

    // The logs continue: lines written after the restart arrive through the new agent.
    const before = (await a.docker(['logs', '--tail', '1', 't1'])).stdout.trim();
    await sleep(500);
    const later = (await a.docker(['logs', '--tail', '1', 't1'])).stdout.trim();
    assert.notEqual(before, later);
    const n1 = Number(before.split(' ')[1]);
    const n2 = Number(later.split(' ')[1]);
    assert.ok(n2 > n1, `${before} -> ${later}`);
    const f = await a.docker(['logs', '-f', '--tail', '0', 't2'], { timeoutMs: 1500 });
    assert.match(f.stdout, /tick \d+/); // follow sees new lines within a second
  });

  it('containers cannot reach the agent TCP port or Redis on the host', { timeout: 60_000 }, async () => {
    const redisPort = await freePort();
    const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '0.0.0.0', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    try {
      await sleep(500);
      const gw = await inspect('t1', '{{.NetworkSettings.Gateway}}');
      assert.match(gw, /^172\.31\.\d+\.1$/);
      // The host reaches both, so a failure from inside means the block works.
      const hostPing = await fetch(`http://127.0.0.1:${a.tcpPort}/_ping`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(hostPing.status, 200);
      const probe = `for p in ${a.tcpPort} ${redisPort}; do if nc -w 2 ${gw} $p </dev/null; then echo open $p; else echo closed $p; fi; done`;
      const r = await a.docker(['run', '--rm', 'bb:1', 'sh', '-c', probe], { timeoutMs: 15_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`closed ${a.tcpPort}`));
      assert.match(r.stdout, new RegExp(`closed ${redisPort}`));
      assert.doesNotMatch(r.stdout, /open/);
    } finally {
      redis.kill('SIGTERM');
    }
  });
});
