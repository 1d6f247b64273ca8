// `slipway doctor`'s checks over a fake host: each says what is wrong and what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCgroups } from '../../../../layer0/runtime/cgroups.ts';
import { CHECKS, runChecks, type HostProbe } from '../../../../layer1/cli/compose/doctor/checks.ts';

function fakeHost(over: Partial<HostProbe> & { files?: Record<string, string>; cgroupRoot: string }): HostProbe {
  const files: Record<string, string> = {
    '/proc/filesystems': 'nodev\tsysfs\nnodev\toverlay\n',
    '/proc/sys/user/max_user_namespaces': '1000\n',
    '/proc/sys/net/ipv4/ip_forward': '0\n',
    ...over.files,
  };
  return {
    env: {}, uid: 0, nodeVersion: '20.11.0',
    readFile: (p) => files[p] ?? null,
    exists: (p) => p.startsWith('/proc/self/ns/'),
    cgroups: () => openCgroups(over.cgroupRoot),
    version: async (p) => ({ iptables: 'iptables v1.8.9 (nf_tables)', runc: 'runc version 1.1.5', conmon: 'conmon version 2.1.6', 'redis-server': 'Redis server v=7.0.15' } as Record<string, string>)[p] ?? null,
    portFree: async () => true,
    freeBytes: () => 50 * 1024 ** 3,
    platformPid: () => null,
    ...over,
  };
}

function v2Root(controllers: string): string {
  const root = mkdtempSync(join(tmpdir(), 'slw-doctor-'));
  writeFileSync(join(root, 'cgroup.controllers'), controllers);
  writeFileSync(join(root, 'cgroup.subtree_control'), 'memory pids\n');
  return root;
}

test('a fit v2 host passes every check, and says v2 with its controllers', async () => {
  const root = v2Root('cpu io memory pids\n');
  try {
    const r = await runChecks(fakeHost({ cgroupRoot: root }), CHECKS);
    assert.deepEqual(r.filter((c) => c.level !== 'ok'), []);
    assert.match(r.find((c) => c.name === 'cgroups')!.detail, /^v2: cpu io memory pids$/);
    assert.match(r.find((c) => c.name === 'iptables')!.detail, /nf_tables backend/);
    assert.equal(r.filter((c) => c.name.startsWith('port ')).length, 5);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('what is wrong fails with its fix: controllers, ports, disk, programs, overlay, Node', async () => {
  const root = v2Root('io\n');
  try {
    const r = await runChecks(fakeHost({
      cgroupRoot: root, nodeVersion: '18.19.0', env: { SLIPWAY_HTTP_PORT: '9999' },
      files: { '/proc/filesystems': 'nodev\tsysfs\n' },
      portFree: async (_h, port) => port !== 9999,
      freeBytes: () => 100 * 1024 ** 2,
      version: async (p) => (p === 'iptables' ? 'iptables v1.8.9 (legacy)' : null),
    }), CHECKS);
    const failed = Object.fromEntries(r.filter((c) => c.level === 'fail').map((c) => [c.name, c]));
    assert.match(failed.cgroups!.detail, /missing cpu memory pids$/);
    assert.match(failed.cgroups!.fix!, /cgroup_disable/);
    assert.match(failed['port 9999']!.fix!, /SLIPWAY_HTTP_PORT/);
    assert.ok(failed.disk && failed.overlayfs && failed.node && failed.runc && failed.conmon && failed['redis-server']);
    assert.match(failed.runc!.fix!, /install-deps/);
    assert.match(r.find((c) => c.name === 'iptables')!.detail, /legacy backend/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('with this home\'s platform running, its ports are its own', async () => {
  const root = v2Root('cpu io memory pids\n');
  try {
    const r = await runChecks(fakeHost({ cgroupRoot: root, platformPid: () => 4242, portFree: async () => false }), CHECKS.filter((c) => c.name === 'ports'));
    assert.equal(r.length, 1);
    assert.equal(r[0]!.level, 'ok');
    assert.match(r[0]!.detail, /pid 4242/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('overlayfs as a module of the running kernel (stock Debian 12) is fine', async () => {
  const root = v2Root('cpu io memory pids\n');
  try {
    const files = {
      '/proc/filesystems': 'nodev\tsysfs\n', '/proc/sys/kernel/osrelease': '6.1.0-28-amd64\n',
      '/lib/modules/6.1.0-28-amd64/modules.dep': 'kernel/fs/overlayfs/overlay.ko.xz:\nkernel/fs/fat/fat.ko.xz:\n',
    };
    const [r] = await runChecks(fakeHost({ cgroupRoot: root, files }), CHECKS.filter((c) => c.name === 'overlayfs'));
    assert.equal(r!.level, 'ok');
    assert.match(r!.detail, /module/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a hybrid v1 host needs cpuacct too', async () => {
  const root = mkdtempSync(join(tmpdir(), 'slw-doctor-'));
  try {
    for (const c of ['cpu', 'memory', 'pids']) {
      mkdirSync(join(root, c));
      writeFileSync(join(root, c, 'cgroup.procs'), '');
    }
    mkdirSync(join(root, 'unified'));
    writeFileSync(join(root, 'unified', 'cgroup.controllers'), '');
    const [cg] = await runChecks(fakeHost({ cgroupRoot: root }), CHECKS.filter((c) => c.name === 'cgroups'));
    assert.equal(cg!.level, 'fail');
    assert.match(cg!.detail, /^hybrid .*missing cpuacct$/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
