// Naming, addressing and subnet choice of the netns "hosts" of `slipway cluster up`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clusterBridgeName, clusterRules, hostAddress, hostCommand, hostNetnsName, hostVethNames, pickClusterSubnet,
} from '../../../../layer0/network/netns-host.ts';

describe('netns hosts', () => {
  it('names everything with the prefix, within 15 characters', () => {
    assert.equal(clusterBridgeName('slwt1a2b'), 'slwt1a2bc0');
    assert.equal(hostNetnsName('slwt1a2b', 3), 'slwt1a2bh3');
    assert.deepEqual(hostVethNames('slwt1a2b', 3), { host: 'slwt1a2bh3a', peer: 'slwt1a2bh3b' });
    assert.throws(() => hostVethNames('slwt1a2b123', 100), /longer than 15/);
  });

  it('puts host i at .(10+i)', () => {
    assert.equal(hostAddress('172.30.0.0/24', 1), '172.30.0.11');
    assert.equal(hostAddress('172.30.7.0/24', 3), '172.30.7.13');
    assert.throws(() => hostAddress('172.30.0.0/24', 0));
  });

  it('takes the first /24 of 172.30.0.0/16 that overlaps no route', () => {
    assert.equal(pickClusterSubnet(['default', '10.0.0.0/8']), '172.30.0.0/24');
    assert.equal(pickClusterSubnet(['172.30.0.0/24', '172.30.1.1/24']), '172.30.2.0/24');
    assert.equal(pickClusterSubnet(['172.16.0.0/12']), null);
  });

  it('marks every rule with the prefix comment', () => {
    for (const r of clusterRules('slwt1a2b', 'slwt1a2bc0', '172.30.0.0/24')) {
      const i = r.args.indexOf('--comment');
      assert.equal(r.args[i + 1], 'slwt1a2b');
    }
  });

  it('enters the netns, and the pinned mount namespace when there is one', () => {
    assert.deepEqual(hostCommand({ netns: 'n1' }, ['true']), { file: 'nsenter', args: ['--net=/run/netns/n1', '--', 'true'] });
    assert.deepEqual(hostCommand({ netns: 'n1', mountNs: '/d/mnt' }, ['true']).args.slice(0, 2), ['--net=/run/netns/n1', '--mount=/d/mnt']);
  });
});
