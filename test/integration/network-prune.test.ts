// layer0/network after a crash: a new HostNetwork over the same state prunes the attachments of
// containers that are gone and any netns, veth or DNAT rule of its prefix that no attachment holds
// (what a crash between two steps leaves), and keeps the rest.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { chainName } from '../../layer0/network/names.ts';
import { cleanupByPrefix, createHostNetwork } from '../../layer0/network/index.ts';
import { findLeaks } from '../helpers/leaks.ts';
import { testPrefix } from '../helpers/runtime.ts';

const execFileP = promisify(execFile);
const prefix = testPrefix('n');
const other = testPrefix('m');
const dir = await mkdtemp(join(tmpdir(), 'slwt-netprune-'));
const id = () => randomBytes(32).toString('hex');

after(async () => {
  await cleanupByPrefix(prefix);
  await cleanupByPrefix(other);
  await rm(dir, { recursive: true, force: true });
  assert.deepEqual(await findLeaks(prefix, { runcRoots: [] }), []);
  assert.deepEqual(await findLeaks(other, { runcRoots: [] }), []);
});

describe('network prune', () => {
  it('removes what no known container holds and keeps the rest', { timeout: 60_000 }, async () => {
    const stateDir = join(dir, 'network');
    const first = createHostNetwork({ prefix, stateDir });
    const gone = id();
    const kept = id();
    const a = await first.attach({ containerId: gone, ports: [{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 }] });
    const b = await first.attach({ containerId: kept, ports: [{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 }] });
    // Leftovers with no record at all: a netns, a veth-named link, a DNAT rule to a free address.
    const strayNs = `${prefix}-${'ab'.repeat(6)}`;
    const strayLink = `${prefix}v${'cd'.repeat(6)}`.slice(0, 15);
    const strayPeer = `${prefix}p${'cd'.repeat(6)}`.slice(0, 15);
    await execFileP('ip', ['netns', 'add', strayNs]);
    await execFileP('ip', ['link', 'add', strayLink, 'type', 'veth', 'peer', 'name', strayPeer]);
    const ip = b.ip.replace(/\.\d+$/, '.250');
    await execFileP('iptables', ['-w', '-t', 'nat', '-A', chainName(prefix, 'DNAT'), '-p', 'tcp', '--dport', '1', '-m', 'comment', '--comment', prefix, '-j', 'DNAT', '--to-destination', `${ip}:80`]);

    // The agent's restart: a new network over the same state, told which containers still exist.
    const second = createHostNetwork({ prefix, stateDir });
    await second.setup();
    const removed = await second.prune([kept]);
    assert.ok(removed.includes(`attachment ${gone}`), removed.join('\n'));
    assert.ok(removed.includes(`netns ${strayNs}`), removed.join('\n'));
    assert.ok(removed.includes(`link ${strayLink}`) || removed.includes(`link ${strayPeer}`), removed.join('\n'));
    assert.ok(!existsSync(`/sys/class/net/${strayLink}`) && !existsSync(`/sys/class/net/${strayPeer}`));
    assert.ok(removed.some((l) => l.includes(`${ip}:80`)), removed.join('\n'));
    assert.ok(!existsSync(`/run/netns/${a.netnsName}`));
    assert.ok(existsSync(`/run/netns/${b.netnsName}`));
    assert.ok(existsSync(`/sys/class/net/${b.vethHost}`));
    const nat = (await execFileP('iptables-save', ['-t', 'nat'])).stdout;
    assert.ok(nat.includes(`${b.ip}:80`), 'the kept container keeps its published port');
    assert.ok(!nat.includes(`${a.ip}:80`), 'the pruned container\'s port forward goes');
    assert.deepEqual(await second.prune([kept]), [], 'idempotent');
    await second.detach(kept);
  });

  it('takes another subnet when the remembered one was taken after a down', { timeout: 30_000 }, async () => {
    const stateDir = join(dir, 'network-2');
    const mine = createHostNetwork({ prefix, stateDir });
    await mine.setup();
    const remembered = mine.subnet;
    await mine.teardown(); // `slipway down`: the bridge goes, the choice stays on disk
    const theirs = createHostNetwork({ prefix: other, stateDir: join(dir, 'network-other'), subnet: remembered });
    await theirs.setup();
    const again = createHostNetwork({ prefix, stateDir });
    await again.setup();
    assert.notEqual(again.subnet, remembered);
    await again.teardown();
    await theirs.teardown();
  });
});
