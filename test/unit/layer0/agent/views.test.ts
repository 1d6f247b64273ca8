// Runtime records → Docker views: status strings, timestamps, inspect/summary shapes, framing, routing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerInspect, containerSummary, dockerTimestamp, humanDuration, statusString } from '../../../../layer0/agent/docker-views.ts';
import { FrameReader, demux, frame } from '../../../../layer0/agent/mux.ts';
import { Router } from '../../../../layer0/agent/router.ts';
import { goFileMode } from '../../../../layer0/agent/routes/archive.ts';
import type { ContainerRecord } from '../../../../layer0/runtime/types.ts';

const rec = (over: Partial<ContainerRecord['state']> = {}): ContainerRecord => ({
  id: 'c'.repeat(64), imageId: `sha256:${'a'.repeat(64)}`, created: '2026-01-01T00:00:00.000Z', logPath: '/x/container.log',
  spec: { name: 'web', image: 'bb', args: ['httpd', '-f'], env: [], user: '', workingDir: '/', hostname: '', labels: { a: 'b' }, tty: false, openStdin: false, memory: 0, memorySwap: 0, nanoCpus: 0, cpuShares: 0, pidsLimit: 0, capAdd: [], capDrop: [], network: 'bridge', ports: [], restartPolicy: { name: 'no', maximumRetryCount: 0 }, autoRemove: false, readonlyRootfs: false, stopSignal: 'SIGTERM', stopTimeout: 10, binds: [] },
  state: { status: 'running', pid: 42, exitCode: 0, oomKilled: false, error: '', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: null, restartCount: 0, stoppedByUser: false, ...over },
  network: { mode: 'bridge', ip: '172.31.0.2', gateway: '172.31.0.1', prefixLength: 24, mac: '02:42:ac:1f:00:02', netnsPath: '/run/netns/x', ports: [{ containerPort: 8080, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 40000 }] },
  extra: { Config: { ExposedPorts: { '8080/tcp': {}, '9000/tcp': {} } }, HostConfig: { NetworkMode: 'default' } },
});

test('human durations and status strings', () => {
  assert.equal(humanDuration(200), 'Less than a second');
  assert.equal(humanDuration(5000), '5 seconds');
  assert.equal(humanDuration(61_000), 'About a minute');
  assert.equal(humanDuration(3 * 3600_000), '3 hours');
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(statusString(rec(), t0 + 5000), 'Up 5 seconds');
  assert.equal(statusString(rec({ status: 'exited', exitCode: 3, finishedAt: '2026-01-01T00:00:00Z' }), t0 + 120_000), 'Exited (3) 2 minutes ago');
  assert.equal(statusString(rec({ status: 'created', startedAt: null })), 'Created');
});

test('timestamps become UTC with nine digits', () => {
  assert.equal(dockerTimestamp('2026-01-01T10:00:00.123456789+02:00'), '2026-01-01T08:00:00.123456789Z');
  assert.equal(dockerTimestamp('2026-01-01T10:00:00.5Z'), '2026-01-01T10:00:00.500000000Z');
});

test('inspect and summary carry ports, names, zero times', () => {
  const i = containerInspect(rec());
  assert.equal(i.Name, '/web');
  assert.equal(i.State.FinishedAt, '0001-01-01T00:00:00Z');
  assert.deepEqual(i.NetworkSettings.Ports, { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '40000' }], '9000/tcp': null });
  assert.equal(i.Config.Hostname, 'cccccccccccc');
  const s = containerSummary(rec());
  assert.deepEqual(s.Names, ['/web']);
  assert.deepEqual(s.Ports, [{ IP: '127.0.0.1', PrivatePort: 8080, PublicPort: 40000, Type: 'tcp' }, { PrivatePort: 9000, Type: 'tcp' }]);
  assert.deepEqual(containerInspect(rec({ status: 'exited' })).NetworkSettings.Ports, {});
});

test('frames and routes', () => {
  assert.deepEqual([...frame(1, Buffer.from('hi\n'))], [1, 0, 0, 0, 0, 0, 0, 3, 0x68, 0x69, 0x0a]);
  assert.deepEqual(demux(Buffer.concat([frame(1, Buffer.from('a')), frame(2, Buffer.from('b'))])).map((f) => [f.type, f.data.toString()]), [[1, 'a'], [2, 'b']]);
  // A frame split across reads (in its header, then in its payload) comes whole, once.
  const framed = Buffer.concat([frame(1, Buffer.from('hello')), frame(2, Buffer.from('world!')), frame(1, Buffer.alloc(0))]);
  const reader = new FrameReader();
  const got = [framed.subarray(0, 3), framed.subarray(3, 15), framed.subarray(15)].flatMap((c) => reader.push(c).map((f) => [f.type, f.data.toString()]));
  assert.deepEqual(got, [[1, 'hello'], [2, 'world!'], [1, '']]);
  const h = () => {};
  const r = new Router().add([{ method: 'GET', path: '/images/json', handler: h }, { method: 'GET', path: '/images/{name*}/json', handler: h }, { method: 'GET', path: '/containers/{id}/json', handler: h }]);
  assert.deepEqual(r.match('GET', '/v1.50/images/slipway/stack:bookworm/json')?.params, { name: 'slipway/stack:bookworm' });
  assert.equal(r.match('GET', '/images/json')?.route.path, '/images/json');
  assert.deepEqual(r.match('HEAD', '/containers/abc/json')?.params, { id: 'abc' });
  assert.equal(r.match('POST', '/containers/abc/json'), null);
  assert.equal(goFileMode(0o040755), 2 ** 31 + 0o755);
  assert.equal(goFileMode(0o100644), 0o644);
});
