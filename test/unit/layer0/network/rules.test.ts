// iptables argument building and parsing of iptables-save output.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ownedChains, ownedRules, tokenize } from '../../../../layer0/network/iptables.ts';
import { natPorts, parseProcNet } from '../../../../layer0/network/probe.ts';
import { baseRules, jumpRules, ourChains, portRule } from '../../../../layer0/network/rules.ts';

const ctx = { prefix: 'slwtab12', bridge: 'slwtab12br0', subnet: '172.31.4.0/24' };

describe('iptables rules', () => {
  it('comments every rule with the prefix, before the target', () => {
    for (const r of [...jumpRules(ctx), ...baseRules(ctx), portRule('slwtab12', '172.31.4.2', { containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 8080 })]) {
      const i = r.args.indexOf('--comment');
      assert.ok(i > 0 && r.args[i + 1] === 'slwtab12', r.args.join(' '));
      assert.ok(i < r.args.indexOf('-j'));
    }
  });

  it('names the four chains in their tables', () => {
    assert.deepEqual(ourChains('slwtab12'), [
      { table: 'filter', chain: 'SLWTAB12-FWD' }, { table: 'filter', chain: 'SLWTAB12-INPUT' },
      { table: 'nat', chain: 'SLWTAB12-DNAT' }, { table: 'nat', chain: 'SLWTAB12-POST' },
    ]);
  });

  it('jumps from the built-in chains, with LOCAL destinations only for DNAT', () => {
    const jumps = jumpRules(ctx).map((r) => `${r.table} ${r.chain} ${r.args.join(' ')}`);
    assert.ok(jumps.includes('nat OUTPUT -m addrtype --dst-type LOCAL -m comment --comment slwtab12 -j SLWTAB12-DNAT'));
    assert.ok(jumps.includes('filter INPUT -i slwtab12br0 -m comment --comment slwtab12 -j SLWTAB12-INPUT'));
  });

  it('drops new connections to the host and masquerades outbound, localhost and hairpin', () => {
    const lines = baseRules(ctx).map((r) => `${r.chain} ${r.args.join(' ')}`);
    assert.deepEqual(lines.filter((l) => l.startsWith('SLWTAB12-INPUT')), [
      'SLWTAB12-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment slwtab12 -j ACCEPT',
      'SLWTAB12-INPUT -m comment --comment slwtab12 -j DROP',
    ]);
    assert.deepEqual(lines.filter((l) => l.startsWith('SLWTAB12-POST')), [
      'SLWTAB12-POST -s 172.31.4.0/24 ! -o slwtab12br0 -m comment --comment slwtab12 -j MASQUERADE',
      'SLWTAB12-POST -s 127.0.0.0/8 -o slwtab12br0 -m comment --comment slwtab12 -j MASQUERADE',
      'SLWTAB12-POST -s 172.31.4.0/24 -d 172.31.4.0/24 -m conntrack --ctstate DNAT -m comment --comment slwtab12 -j MASQUERADE',
    ]);
  });

  it('builds DNAT rules for any or one host address', () => {
    const any = portRule('slwtab12', '172.31.4.2', { containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 8080 });
    assert.equal(any.args.join(' '), '-p tcp -m tcp --dport 8080 -m comment --comment slwtab12 -j DNAT --to-destination 172.31.4.2:80');
    const one = portRule('slwtab12', '172.31.4.3', { containerPort: 53, protocol: 'udp', hostIp: '127.0.0.1', hostPort: 5353 });
    assert.equal(one.chain, 'SLWTAB12-DNAT');
    assert.equal(one.args.join(' '), '-d 127.0.0.1 -p udp -m udp --dport 5353 -m comment --comment slwtab12 -j DNAT --to-destination 172.31.4.3:53');
  });
});

describe('iptables-save parsing', () => {
  const text = [
    '*nat', ':PREROUTING ACCEPT [0:0]', ':SLWTAB12-DNAT - [0:0]', ':SLWTAB1-DNAT - [0:0]',
    '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment slwtab12 -j SLWTAB12-DNAT',
    '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment slwtab1 -j SLWTAB1-DNAT',
    '-A PREROUTING -m comment --comment "some other thing" -j ACCEPT',
    '-A SLWTAB12-DNAT -p tcp -m tcp --dport 8080 -m comment --comment slwtab12 -j DNAT --to-destination 172.31.4.2:80',
    '-A SLWTAB1-DNAT -p udp -m udp --dport 9999 -m comment --comment slwtab1 -j DNAT --to-destination 172.31.5.2:80',
    'COMMIT',
  ].join('\n');

  it('tokenizes quoted comments', () => {
    assert.deepEqual(tokenize('-A X -m comment --comment "a \\"b\\" c" -j ACCEPT'), ['-A', 'X', '-m', 'comment', '--comment', 'a "b" c', '-j', 'ACCEPT']);
  });

  it('finds only the prefix\'s chains and rules', () => {
    assert.deepEqual(ownedChains(text, 'slwtab12'), ['SLWTAB12-DNAT']);
    const rules = ownedRules(text, 'nat', 'slwtab12');
    assert.deepEqual(rules.map((r) => r.chain), ['PREROUTING', 'SLWTAB12-DNAT']);
    assert.deepEqual(rules[0]!.args.slice(-2), ['-j', 'SLWTAB12-DNAT']);
    assert.deepEqual(ownedRules(text, 'nat', 'slwtab').map((r) => r.line), []);
  });

  it('collects published ports of every instance', () => {
    const ports = natPorts(text);
    assert.deepEqual([...ports.tcp], [8080]);
    assert.deepEqual([...ports.udp], [9999]);
  });

  it('reads listening ports from /proc/net/tcp', () => {
    const proc = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1B58 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
      '   1: 0100007F:9C40 0100007F:1B58 01 00000000:00000000 00:00000000 00000000     0        0 2 1',
    ].join('\n');
    assert.deepEqual(parseProcNet(proc, '0A'), [7000]);
  });
});
