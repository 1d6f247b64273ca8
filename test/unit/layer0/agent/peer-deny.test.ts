// Which addresses a cluster's containers are denied: the hosts' advertised IPv4 addresses (never
// loopback), and the operator's list plus the Redis host from `slipway agent`'s flags.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { peerAddresses } from '../../../../layer0/agent/peer-deny.ts';
import { denyList } from '../../../../layer1/cli/compose/agent.ts';
import { checkCidr } from '../../../../layer0/network/subnet.ts';

describe('cluster deny list', () => {
  it('takes the hosts\' IPv4 addresses, once each, and leaves loopback and names out', () => {
    assert.deepEqual(peerAddresses(['172.30.0.12', '127.0.0.1', undefined, 'host.example', '172.30.0.11', '172.30.0.12']), ['172.30.0.11', '172.30.0.12']);
  });

  it('adds the Redis host of a TCP URL to the flag\'s list', () => {
    assert.deepEqual(denyList('10.1.0.0/24, 10.2.0.5', 'redis://:pw@172.30.0.1:6390'), ['10.1.0.0/24', '10.2.0.5', '172.30.0.1']);
    assert.deepEqual(denyList(undefined, 'redis://127.0.0.1:6379'), []);
    assert.deepEqual(denyList(undefined, 'redis+unix:///run/slipway/redis.sock'), []);
    assert.deepEqual(denyList(undefined, undefined), []);
  });

  it('normalises addresses and CIDRs, and refuses anything else', () => {
    assert.equal(checkCidr('10.0.0.5'), '10.0.0.5/32');
    assert.equal(checkCidr('172.30.0.9/24'), '172.30.0.0/24');
    assert.throws(() => checkCidr('example.com'));
  });
});
