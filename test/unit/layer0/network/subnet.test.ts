// Subnet choice from a route list, address allocation and Docker-style MACs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkSubnet, gatewayOf, hostAddresses, macFromIp, overlaps, parseCidr, pickAddress, pickSubnet,
} from '../../../../layer0/network/subnet.ts';

describe('subnet selection', () => {
  it('takes the first /24 of 172.31.0.0/16 when nothing overlaps', () => {
    assert.equal(pickSubnet(['default', '192.0.2.0/24', '10.255.255.53/32']), '172.31.0.0/24');
  });

  it('skips routes and addresses that overlap', () => {
    assert.equal(pickSubnet(['172.31.0.0/24', '172.31.1.1/24', '172.31.2.7/32']), '172.31.3.0/24');
    assert.equal(pickSubnet(['172.31.0.0/22']), '172.31.4.0/24');
  });

  it('finds nothing when a wider route covers the pool', () => {
    assert.equal(pickSubnet(['172.16.0.0/12']), null);
    assert.equal(pickSubnet(['172.31.0.0/16']), null);
  });

  it('ignores the default route', () => {
    assert.equal(pickSubnet(['default', '0.0.0.0/0']), '172.31.0.0/24');
  });

  it('validates configured subnets', () => {
    assert.equal(checkSubnet('172.31.7.0/24'), '172.31.7.0/24');
    assert.equal(checkSubnet('172.31.7.9/24'), '172.31.7.0/24');
    assert.throws(() => checkSubnet('10.0.0.0/24'));
    assert.throws(() => checkSubnet('172.31.0.0/16'));
    assert.throws(() => checkSubnet('172.31.300.0/24'));
  });

  it('computes overlaps in both directions', () => {
    assert.ok(overlaps(parseCidr('172.31.0.0/16'), parseCidr('172.31.9.0/24')));
    assert.ok(overlaps(parseCidr('172.31.9.0/24'), parseCidr('172.31.0.0/16')));
    assert.ok(!overlaps(parseCidr('172.31.9.0/24'), parseCidr('172.31.10.0/24')));
  });
});

describe('address allocation', () => {
  it('hands out .2 to .254 in order, skipping used ones', () => {
    const all = hostAddresses('172.31.5.0/24');
    assert.equal(all.length, 253);
    assert.equal(all[0], '172.31.5.2');
    assert.equal(all.at(-1), '172.31.5.254');
    assert.equal(gatewayOf('172.31.5.0/24'), '172.31.5.1');
    assert.equal(pickAddress('172.31.5.0/24', ['172.31.5.2', '172.31.5.4']), '172.31.5.3');
    assert.equal(pickAddress('172.31.5.0/24', all), null);
  });

  it('derives the MAC from the IP like Docker', () => {
    assert.equal(macFromIp('172.31.5.2'), '02:42:ac:1f:05:02');
    assert.equal(macFromIp('172.31.255.254'), '02:42:ac:1f:ff:fe');
  });
});
