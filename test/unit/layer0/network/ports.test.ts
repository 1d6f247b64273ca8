// Published ports: free-port choice for hostPort 0 and Docker's conflict error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSlipwayError } from '../../../../layer0/common/errors.ts';
import { collides, EPHEMERAL_MIN, normalizeBinding, resolvePorts } from '../../../../layer0/network/ports.ts';
import type { PortBinding } from '../../../../layer0/runtime/types.ts';

const tcp = (hostPort: number, hostIp = '', containerPort = 80): PortBinding => ({ containerPort, protocol: 'tcp', hostIp, hostPort });
const none = () => ({ tcp: new Set<number>(), udp: new Set<number>() });

describe('port allocation', () => {
  it('picks the first free ephemeral port from the start, skipping busy and ours', () => {
    const busy = none();
    busy.tcp.add(EPHEMERAL_MIN);
    const out = resolvePorts([tcp(0)], { existing: [tcp(EPHEMERAL_MIN + 1, '127.0.0.1')], busy });
    assert.equal(out[0]!.hostPort, EPHEMERAL_MIN + 2);
  });

  it('wraps around the end of the range', () => {
    const out = resolvePorts([tcp(0)], { existing: [], busy: none(), start: 60999 });
    assert.equal(out[0]!.hostPort, 60999);
    const busy = none();
    busy.tcp.add(60999);
    assert.equal(resolvePorts([tcp(0)], { existing: [], busy, start: 60999 })[0]!.hostPort, EPHEMERAL_MIN);
  });

  it('keeps tcp and udp apart', () => {
    const busy = none();
    busy.udp.add(EPHEMERAL_MIN);
    assert.equal(resolvePorts([tcp(0)], { existing: [], busy })[0]!.hostPort, EPHEMERAL_MIN);
    assert.deepEqual(resolvePorts([{ ...tcp(8080), protocol: 'udp' }], { existing: [tcp(8080)], busy: none() })[0]!.protocol, 'udp');
  });

  it('rejects a port of ours with Docker\'s message', () => {
    assert.throws(() => resolvePorts([tcp(8080)], { existing: [tcp(8080)], busy: none() }), (err: unknown) =>
      isSlipwayError(err) && err.code === 'conflict' && err.message === 'Bind for 0.0.0.0:8080 failed: port is already allocated');
    assert.throws(() => resolvePorts([tcp(8080, '127.0.0.1')], { existing: [tcp(8080)], busy: none() }), /127\.0\.0\.1:8080/);
  });

  it('allows the same port on two distinct host addresses', () => {
    const out = resolvePorts([tcp(8080, '127.0.0.1')], { existing: [tcp(8080, '192.0.2.2')], busy: none() });
    assert.equal(out[0]!.hostPort, 8080);
    assert.ok(!collides(tcp(1, '127.0.0.1'), tcp(1, '192.0.2.2')));
    assert.ok(collides(tcp(1, ''), tcp(1, '192.0.2.2')));
  });

  it('checks bindings of one request against each other and resolves explicit ports first', () => {
    assert.throws(() => resolvePorts([tcp(9000), tcp(9000, '', 81)], { existing: [], busy: none() }), /9000/);
    const out = resolvePorts([tcp(0), tcp(EPHEMERAL_MIN, '', 81)], { existing: [], busy: none() });
    assert.deepEqual(out.map((b) => b.hostPort), [EPHEMERAL_MIN + 1, EPHEMERAL_MIN]);
  });

  it('normalises host addresses and refuses bad input', () => {
    assert.equal(normalizeBinding(tcp(1, '0.0.0.0')).hostIp, '');
    assert.equal(normalizeBinding(tcp(1, '::')).hostIp, '');
    assert.throws(() => normalizeBinding(tcp(1, 'fd00::2')), (e: unknown) => isSlipwayError(e) && e.code === 'invalid_params');
    assert.throws(() => normalizeBinding(tcp(70000)), /hostPort/);
  });
});
