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
  const refused = (name: string) => s.linux.seccomp.syscalls.find((r) => r.names.includes(name) && r.action === 'SCMP_ACT_ERRNO');
  assert.equal(s.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO', 'an allow-list');
  assert.ok(refused('mount') && refused('unshare') && refused('keyctl'));
  assert.ok(s.linux.maskedPaths.includes('/proc/kcore'));
  assert.equal(s.mounts.some((m) => m.type === 'bind' && !['/etc/hosts', '/etc/hostname'].includes(m.destination)), false);
});

test('CapDrop ALL leaves no capability in any set; CapAdd adds to the defaults', () => {
  const none = buildOciSpec(base({ capDrop: ['ALL'] }));
  for (const set of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const) assert.deepEqual(none.process.capabilities[set], [], set);
  const more = buildOciSpec(base({ capAdd: ['CAP_SYS_PTRACE'], capDrop: ['CAP_NET_RAW'] }));
  assert.ok(more.process.capabilities.effective.includes('CAP_SYS_PTRACE'));
  assert.ok(!more.process.capabilities.effective.includes('CAP_NET_RAW'));
});

test('host network joins no netns; none gets a fresh one', () => {
  assert.equal(buildOciSpec({ ...base(), netns: 'host' }).linux.namespaces.some((n) => n.type === 'network'), false);
  assert.deepEqual(buildOciSpec({ ...base(), netns: null }).linux.namespaces.find((n) => n.type === 'network'), { type: 'network' });
});
