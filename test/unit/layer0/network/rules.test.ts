// iptables argument building and parsing of iptables-save output.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ownedChains, ownedRules, tokenize } from '../../../../layer0/network/iptables.ts';
import { natPorts, parseProcNet } from '../../../../layer0/network/probe.ts';
import { groupChainName, isGroupChain } from '../../../../layer0/network/names.ts';
import { baseRules, denyRules, jumpRules, memberRules, ourChains, portRule, spoofRules } from '../../../../layer0/network/rules.ts';

const ctx = { prefix: 'slwtab12', bridge: 'slwtab12br0', subnet: '172.31.4.0/24' };

describe('iptables rules', () => {
  it('comments every ip(6)tables rule with the prefix, before the target', () => {
    const member = memberRules('slwtab12', '172.31.4.2', groupChainName('slwtab12', 'group:app1'));
    const all = [...jumpRules(ctx), ...baseRules(ctx), portRule('slwtab12', '172.31.4.2', { containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 8080 }),
      ...denyRules('slwtab12', ['172.30.0.0/24']), member.iso, member.member];
    for (const r of all.filter((x) => x.family !== 'eb')) {
      const i = r.args.indexOf('--comment');
      assert.ok(i > 0 && r.args[i + 1] === 'slwtab12', r.args.join(' '));
      assert.ok(i < r.args.indexOf('-j'));
    }
  });

  it('names the chains in their tools and tables', () => {
    assert.deepEqual(ourChains('slwtab12').map((c) => `${c.family} ${c.table} ${c.chain}`), [
      'ip4 filter SLWTAB12-FWD', 'ip4 filter SLWTAB12-INPUT', 'ip4 filter SLWTAB12-ISO', 'ip4 filter SLWTAB12-DENY',
      'ip4 nat SLWTAB12-DNAT', 'ip4 nat SLWTAB12-POST', 'ip4 raw SLWTAB12-RAW',
      'ip6 filter SLWTAB12-FWD', 'ip6 filter SLWTAB12-INPUT', 'eb nat SLWTAB12-SPOOF',
    ]);
  });

  it('names group chains so that only their prefix claims them', () => {
    const g = groupChainName('slwtab12', 'group:app1');
    assert.match(g, /^SLWTAB12-G[A-P]{12}$/);
    assert.ok(g.length <= 28);
    assert.equal(g, groupChainName('slwtab12', 'group:app1'));
    assert.notEqual(g, groupChainName('slwtab12', 'group:app2'));
    assert.ok(isGroupChain('slwtab12', g) && !isGroupChain('slwtab1', g));
  });

  it('filters container-to-container traffic by group and drops it otherwise', () => {
    const fwd = baseRules(ctx).filter((r) => r.family !== 'ip6' && r.chain === 'SLWTAB12-FWD').map((r) => r.args.join(' '));
    const iso = fwd.indexOf('-i slwtab12br0 -o slwtab12br0 -m comment --comment slwtab12 -j SLWTAB12-ISO');
    assert.ok(iso > 0, fwd.join('\n'));
    assert.equal(fwd[iso + 1], '-i slwtab12br0 -o slwtab12br0 -m comment --comment slwtab12 -j DROP');
    assert.ok(fwd.indexOf('-i slwtab12br0 -m comment --comment slwtab12 -j SLWTAB12-DENY') < fwd.indexOf('-i slwtab12br0 -m comment --comment slwtab12 -j ACCEPT'));
    const m = memberRules('slwtab12', '172.31.4.2', 'SLWTAB12-GABCDEFGHIJKL');
    assert.equal(`${m.iso.chain} ${m.iso.args.join(' ')}`, 'SLWTAB12-ISO -s 172.31.4.2 -m comment --comment slwtab12 -j SLWTAB12-GABCDEFGHIJKL');
    assert.equal(`${m.member.chain} ${m.member.args.join(' ')}`, 'SLWTAB12-GABCDEFGHIJKL -d 172.31.4.2 -m comment --comment slwtab12 -j ACCEPT');
  });

  it('lets a veth send only its own IPv4 address and MAC, and ARP about itself', () => {
    const lines = spoofRules('slwtab12', 'slwtab12vabc', '172.31.4.2', '02:42:ac:1f:04:02').map((r) => `${r.family} ${r.chain} ${r.args.join(' ')}`);
    assert.deepEqual(lines, [
      'eb SLWTAB12-SPOOF -i slwtab12vabc -s 02:42:ac:1f:04:02 -p IPv4 --ip-src 172.31.4.2 -j RETURN',
      'eb SLWTAB12-SPOOF -i slwtab12vabc -s 02:42:ac:1f:04:02 -p ARP --arp-ip-src 172.31.4.2 --arp-mac-src 02:42:ac:1f:04:02 -j RETURN',
      'eb SLWTAB12-SPOOF -i slwtab12vabc -j DROP',
    ]);
  });

  it('drops 127/8 from the wire and IPv6 on the bridge', () => {
    const lines = baseRules(ctx).map((r) => `${r.family ?? 'ip4'} ${r.table} ${r.chain} ${r.args.join(' ')}`);
    assert.ok(lines.includes('ip4 raw SLWTAB12-RAW ! -i lo -d 127.0.0.0/8 -m comment --comment slwtab12 -j DROP'));
    assert.ok(lines.includes('ip6 filter SLWTAB12-FWD -i slwtab12br0 -m comment --comment slwtab12 -j DROP'));
    assert.ok(lines.includes('ip6 filter SLWTAB12-FWD -o slwtab12br0 -m comment --comment slwtab12 -j DROP'));
  });

  it('jumps from the built-in chains, with LOCAL destinations only for DNAT', () => {
    const jumps = jumpRules(ctx).map((r) => `${r.table} ${r.chain} ${r.args.join(' ')}`);
    assert.ok(jumps.includes('nat OUTPUT -m addrtype --dst-type LOCAL -m comment --comment slwtab12 -j SLWTAB12-DNAT'));
    assert.ok(jumps.includes('filter INPUT -i slwtab12br0 -m comment --comment slwtab12 -j SLWTAB12-INPUT'));
  });

  it('drops new connections to the host and masquerades outbound, localhost and hairpin', () => {
    const lines = baseRules(ctx).filter((r) => r.family !== 'ip6').map((r) => `${r.chain} ${r.args.join(' ')}`);
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
