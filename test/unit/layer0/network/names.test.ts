// Naming rules: interface names fit in 15 characters and a prefix never claims another's objects.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bridgeName, chainName, chainOwnedBy, idHex, MAX_IFNAME, netnsName, ownedBy, vethHostName, vethPeerTempName,
} from '../../../../layer0/network/names.ts';

const id = 'abcdef0123456789'.repeat(4);

describe('network names', () => {
  it('builds bridge, netns, veth and chain names', () => {
    assert.equal(bridgeName('slw'), 'slwbr0');
    assert.equal(netnsName('slw', id), 'slw-abcdef012345');
    assert.equal(vethHostName('slw', id), 'slwvabcdef01234');
    assert.equal(vethPeerTempName('slwvabcdef01234', 'slw'), 'slwpabcdef01234');
    assert.equal(chainName('slwtab12', 'DNAT'), 'SLWTAB12-DNAT');
  });

  it('keeps interface names within 15 characters for prefixes up to 10', () => {
    for (const prefix of ['ab', 'slw', 'slwtab12', 'abcdefghij']) {
      for (const name of [bridgeName(prefix), vethHostName(prefix, id), vethPeerTempName(vethHostName(prefix, id), prefix)]) {
        assert.ok(name.length <= MAX_IFNAME, `${name} is too long`);
        assert.ok(name.startsWith(prefix));
      }
    }
    assert.equal(vethHostName('abcdefghij', id), 'abcdefghijvabcd');
  });

  it('hashes ids that are not hex and gives another veth name with a salt', () => {
    assert.match(idHex('web.1'), /^[0-9a-f]{12}$/);
    assert.equal(idHex('web.1'), idHex('web.1'));
    assert.notEqual(vethHostName('abcdefghij', id, 1), vethHostName('abcdefghij', id));
  });

  it('matches only the given prefix', () => {
    assert.ok(ownedBy('slwt12', 'slwt12br0'));
    assert.ok(ownedBy('slwt12', 'slwt12vabcd'));
    assert.ok(ownedBy('slwt12', 'slwt12-abcdef012345'));
    assert.ok(ownedBy('slwt12', 'slwt12'));
    assert.ok(!ownedBy('slwt1', 'slwt12br0'));
    assert.ok(!ownedBy('slwt1', 'slwt12-abcdef012345'));
    assert.ok(!ownedBy('slwt12', 'slwt1br0'));
    // `slwa`'s veth must not look like one of `slwav`'s, nor the reverse.
    assert.ok(!ownedBy('slwav', 'slwavabcd'));
    assert.ok(!ownedBy('slwa', 'slwavvabc'));
    assert.ok(!ownedBy('slwa', 'slwavbr0'));
    assert.ok(!ownedBy('slw', 'eth0'));
    assert.ok(chainOwnedBy('slwt12', 'SLWT12-FWD'));
    assert.ok(!chainOwnedBy('slwt1', 'SLWT12-FWD'));
    assert.ok(!chainOwnedBy('slwt12', 'SLWT1-FWD'));
  });
});
