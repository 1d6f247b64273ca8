import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CAPABILITIES } from '../../../../layer0/runtime/capabilities.ts';
import { buildOciSpec } from '../../../../layer0/runtime/oci-spec.ts';
import { ContainerSpecSchema } from '../../../../layer0/runtime/types.ts';

const base = (over: object = {}) => ({
  spec: ContainerSpecSchema.parse({ name: 'n', image: 'i', args: ['true'], hostname: 'h', ...over }),
  rootfs: '/r',
  user: { uid: 10001, gid: 10001, additionalGids: [] },
  env: ['A=1'],
  netns: '/run/netns/x' as string | null | 'host',
  cgroupsPath: '/slwt/slwt-1',
  etcFiles: { hosts: '/h', hostname: '/hn', resolvConf: null },
});

test('limits map as Docker maps them', () => {
  const s = buildOciSpec(base({ memory: 64 << 20, nanoCpus: 1_500_000_000, pidsLimit: 64, cpuShares: 512 }));
  assert.deepEqual(s.linux.resources.memory, { limit: 64 << 20, swap: 128 << 20 });
  assert.deepEqual(s.linux.resources.cpu, { quota: 150000, period: 100000, shares: 512 });
  assert.deepEqual(s.linux.resources.pids, { limit: 64 });
  const none = buildOciSpec(base());
  assert.equal(none.linux.resources.memory, undefined);
  assert.deepEqual(none.linux.resources.pids, { limit: -1 });
});

test('isolation: namespaces, default caps only, no new privileges, seccomp, masked paths', () => {
  const s = buildOciSpec(base());
  assert.deepEqual(s.linux.namespaces.map((n) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
  assert.equal(s.linux.namespaces.find((n) => n.type === 'network')?.path, '/run/netns/x');
  assert.deepEqual(s.process.capabilities.bounding, DEFAULT_CAPABILITIES);
  assert.ok(!s.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
  assert.equal(s.process.noNewPrivileges, true);
  assert.ok(s.linux.seccomp.syscalls[0].names.includes('mount'));
  assert.ok(s.linux.maskedPaths.includes('/proc/kcore'));
  assert.equal(s.mounts.some((m) => m.type === 'bind' && !['/etc/hosts', '/etc/hostname'].includes(m.destination)), false);
});

test('host network joins no netns; none gets a fresh one', () => {
  assert.equal(buildOciSpec({ ...base(), netns: 'host' }).linux.namespaces.some((n) => n.type === 'network'), false);
  assert.deepEqual(buildOciSpec({ ...base(), netns: null }).linux.namespaces.find((n) => n.type === 'network'), { type: 'network' });
});
