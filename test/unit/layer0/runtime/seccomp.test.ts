import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, normalizeCapabilities, resolveCapabilities } from '../../../../layer0/runtime/capabilities.ts';
import { seccompProfile, type OciSeccomp } from '../../../../layer0/runtime/seccomp.ts';

test('capabilities follow Moby: defaults, drops then adds, ALL on either side; names normalized, unknown ones refused', () => {
  assert.deepEqual(resolveCapabilities([], []), DEFAULT_CAPABILITIES);
  assert.deepEqual(resolveCapabilities([], ['ALL']), []);
  assert.deepEqual(resolveCapabilities(['CAP_NET_BIND_SERVICE'], ['ALL']), ['CAP_NET_BIND_SERVICE']);
  assert.deepEqual(resolveCapabilities(['ALL'], ['CAP_SYS_ADMIN']), ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_ADMIN'));
  const r = resolveCapabilities(['CAP_SYS_PTRACE'], ['CAP_NET_RAW']);
  assert.ok(r.includes('CAP_SYS_PTRACE') && !r.includes('CAP_NET_RAW') && r.includes('CAP_CHOWN'));
  assert.deepEqual(normalizeCapabilities(['net_raw', 'CAP_KILL', 'all', 'NET_RAW']), ['CAP_NET_RAW', 'CAP_KILL', 'ALL']);
  assert.throws(() => normalizeCapabilities(['CAP_WHATEVER']), /unknown capability/);
});

const allowed = (p: OciSeccomp, name: string) => p.syscalls.filter((r) => r.names.includes(name) && r.action === 'SCMP_ACT_ALLOW');
const refused = (p: OciSeccomp, name: string) => p.syscalls.filter((r) => r.names.includes(name) && r.action === 'SCMP_ACT_ERRNO');

test('the shipped profile: an allow-list; without CAP_SYS_ADMIN no namespaces, mounts or keyring; one action per unconditional name', () => {
  const p = seccompProfile([]);
  assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(p.defaultErrnoRet, 38);
  assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64'], 'the native ABI only');
  assert.equal(allowed(p, 'read').length, 1);
  const clone = allowed(p, 'clone');
  assert.equal(clone.length, 1);
  assert.deepEqual(clone[0]!.args, [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
  assert.equal(refused(p, 'clone3')[0]?.errnoRet, 38);
  for (const n of ['unshare', 'setns', 'mount', 'umount2', 'pivot_root', 'fsopen', 'open_tree', 'keyctl', 'add_key', 'request_key']) {
    assert.equal(allowed(p, n).length, 0, n);
    assert.equal(refused(p, n)[0]?.errnoRet, 1, n);
  }
  assert.equal(allowed(p, 'io_uring_setup').length, 0, 'io_uring is not on the list');
  const plainAllow = new Set(p.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
  const plainDeny = p.syscalls.filter((r) => r.action !== 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names);
  assert.deepEqual(plainDeny.filter((n) => plainAllow.has(n)), []);
  assert.strictEqual(seccompProfile([]), p, 'converted once per capability set');
});

test('with CAP_SYS_ADMIN the file\'s own rules stand (namespaces, mounts, bpf), the keyring stays refused', () => {
  const p = seccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
  for (const n of ['clone', 'clone3', 'unshare', 'setns', 'mount', 'bpf']) assert.ok(allowed(p, n).some((r) => !r.args), n);
  assert.equal(refused(p, 'keyctl').length, 1);
});

test('conversion: arches, includes/excludes on caps, args and errnoRet as Moby converts them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slwt-seccomp-'));
  try {
    const file = join(dir, 'seccomp.json');
    writeFileSync(file, JSON.stringify({
      defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1,
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }, { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: [] }],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW', args: [], comment: '', includes: {}, excludes: {} },
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
        { names: ['arm_only'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
        { names: ['chroot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
        { names: ['chroot'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_CHROOT'] } },
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      ],
    }));
    const withChroot = seccompProfile(['CAP_SYS_CHROOT'], file);
    assert.deepEqual(withChroot.architectures, ['SCMP_ARCH_X86_64']);
    assert.equal(allowed(withChroot, 'chroot').length, 1);
    assert.equal(refused(withChroot, 'chroot').length, 0);
    assert.equal(allowed(withChroot, 'arch_prctl').length, 1);
    assert.equal(allowed(withChroot, 'arm_only').length, 0);
    assert.deepEqual(allowed(withChroot, 'personality')[0]!.args, [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }]);
    const without = seccompProfile([], file);
    assert.equal(allowed(without, 'chroot').length, 0);
    assert.equal(refused(without, 'chroot')[0]!.errnoRet, 1);
    writeFileSync(file, '{"syscalls": "no"}');
    assert.throws(() => seccompProfile([], join(dir, 'other.json')), /is missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
