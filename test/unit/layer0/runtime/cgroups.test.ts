// The cgroup driver over fake trees of both kinds (issue 19): version detection, controllers,
// stats, OOM kills, pids, child listing and removal, all under a temp root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cgroupMode, childCgroups, oomKillCount, openCgroups, readStats, removeCgroupParent } from '../../../../layer0/runtime/cgroups.ts';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'slw-cgroups-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const C = '/slwt/slwt-abc';

function v2Tree(): string {
  return tree({
    'cgroup.controllers': 'cpu io memory pids\n',
    // A stock Debian 12 root enables only some for children; runc enables the rest on its way down.
    'cgroup.subtree_control': 'memory pids\n',
    [`${C}/cgroup.procs`]: '101\n102\n',
    [`${C}/inner/cgroup.procs`]: '103\n',
    [`${C}/cpu.stat`]: 'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n',
    [`${C}/memory.current`]: '1048576\n',
    [`${C}/memory.max`]: '268435456\n',
    [`${C}/memory.peak`]: '2097152\n',
    [`${C}/memory.events`]: 'low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\noom_group_kill 0\n',
    [`${C}/pids.current`]: '3\n',
    [`${C}/pids.max`]: 'max\n',
  });
}

function v1Tree(hybrid: boolean): string {
  const files: Record<string, string> = {};
  for (const c of ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'systemd']) files[`${c}/cgroup.procs`] = '';
  if (hybrid) files['unified/cgroup.controllers'] = '';
  Object.assign(files, {
    [`memory${C}/cgroup.procs`]: '201\n',
    [`pids${C}/cgroup.procs`]: '201\n202\n',
    [`cpuacct${C}/cpuacct.usage`]: '7000000\n',
    [`memory${C}/memory.usage_in_bytes`]: '4096\n',
    [`memory${C}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`memory${C}/memory.max_usage_in_bytes`]: '8192\n',
    [`memory${C}/memory.oom_control`]: 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n',
    [`pids${C}/pids.current`]: '2\n',
    [`pids${C}/pids.max`]: '512\n',
  });
  return tree(files);
}

test('v2: detected by cgroup.controllers; stats, OOM kills, pids (nested too), controllers', () => {
  const root = v2Tree();
  try {
    assert.equal(cgroupMode(root), 'v2');
    const cg = openCgroups(root);
    assert.deepEqual(cg.controllers(), ['cpu', 'io', 'memory', 'pids']);
    const s = readStats(C, cg);
    assert.equal(s.cpuTotalNs, 2_500_000);
    assert.equal(s.memoryUsage, 1048576);
    assert.equal(s.memoryLimit, 268435456);
    assert.equal(s.memoryMaxUsage, 2097152);
    assert.equal(s.pids, 3);
    assert.equal(s.pidsLimit, 0, '"max" is no limit');
    assert.equal(oomKillCount(C, cg), 1, 'oom_kill, not oom or oom_group_kill');
    assert.deepEqual(cg.pids(C).sort(), [101, 102, 103]);
    assert.deepEqual(childCgroups('slwt', cg), ['slwt-abc']);
    assert.equal(oomKillCount('/slwt/none', cg), 0, 'a missing cgroup counts no kill');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('v1 and hybrid: detected by the layout; stats from the per-controller trees', () => {
  for (const hybrid of [false, true]) {
    const root = v1Tree(hybrid);
    try {
      assert.equal(cgroupMode(root), hybrid ? 'hybrid' : 'v1');
      const cg = openCgroups(root);
      assert.deepEqual(cg.controllers().sort(), ['cpu', 'cpuacct', 'freezer', 'memory', 'pids']);
      const s = readStats(C, cg);
      assert.equal(s.cpuTotalNs, 7_000_000);
      assert.equal(s.memoryUsage, 4096);
      assert.equal(s.memoryLimit, 0, 'the kernel\'s huge "no limit" is 0');
      assert.equal(s.memoryMaxUsage, 8192);
      assert.equal(s.pidsLimit, 512);
      assert.equal(oomKillCount(C, cg), 3);
      assert.deepEqual(cg.pids(C).sort(), [201, 202]);
      assert.deepEqual(childCgroups('slwt', cg), ['slwt-abc']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
});

test('removing the parent removes empty container cgroups under it, on both kinds', () => {
  // rmdir on a real cgroup removes a directory with its interface files; on a fake tree only
  // directories without files can go, so these are bare directories.
  const v2root = tree({ 'cgroup.controllers': '' });
  const v1root = tree({ 'memory/cgroup.procs': '', 'pids/cgroup.procs': '' });
  try {
    mkdirSync(join(v2root, 'slwt/slwt-a/nested'), { recursive: true });
    mkdirSync(join(v2root, 'slwt/slwt-b'), { recursive: true });
    removeCgroupParent('slwt', openCgroups(v2root));
    assert.ok(!existsSync(join(v2root, 'slwt')));
    for (const c of ['memory', 'pids']) mkdirSync(join(v1root, c, 'slwt/slwt-a'), { recursive: true });
    const cg = openCgroups(v1root);
    assert.deepEqual(childCgroups('slwt', cg), ['slwt-a']);
    removeCgroupParent('slwt', cg);
    for (const c of ['memory', 'pids']) assert.ok(!existsSync(join(v1root, c, 'slwt')), c);
  } finally {
    rmSync(v2root, { recursive: true, force: true });
    rmSync(v1root, { recursive: true, force: true });
  }
});

test('this host is detected as what it is', () => {
  const cg = openCgroups();
  assert.equal(cg.mode, cgroupMode('/sys/fs/cgroup'));
  assert.ok(cg.controllers().includes('memory'));
});
