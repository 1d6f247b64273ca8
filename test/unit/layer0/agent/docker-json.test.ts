// Docker create JSON → runtime spec: Moby's merge with the image config, limits, ports, names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSpec, CreateBodySchema, validateName } from '../../../../layer0/agent/docker-json.ts';
import { ImageConfigSchema, type ImageRecord } from '../../../../layer0/runtime/types.ts';

const image = (config: Partial<ReturnType<typeof ImageConfigSchema.parse>> = {}): ImageRecord => ({
  id: `sha256:${'a'.repeat(64)}`, parent: null, layer: `sha256:${'b'.repeat(64)}`, tags: ['bb:latest'], created: '2026-01-01T00:00:00Z',
  comment: '', size: 1, config: ImageConfigSchema.parse(config),
});
const build = (body: unknown, img = image()) => buildSpec(CreateBodySchema.parse(body), 'web', img, 4);
const status = (n: number) => (e: { status?: number }) => e.status === n;

test('merges Env, Labels, Cmd and Entrypoint as Moby does', () => {
  const img = image({ Cmd: ['sh'], Entrypoint: ['/init'], Env: ['A=1', 'B=2'], Labels: { x: '1', y: '2' }, WorkingDir: '/app', User: 'app' });
  const { spec, extra } = build({ Image: 'bb', Env: ['B=3'], Labels: { y: '9' } }, img);
  assert.deepEqual(spec.args, ['/init', 'sh']);
  assert.deepEqual(extra.Config.Env, ['B=3', 'A=1']);
  assert.ok(spec.env!.includes('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'));
  assert.deepEqual(spec.labels, { x: '1', y: '9' });
  assert.equal(spec.workingDir, '/app');
  assert.equal(spec.user, 'app');
  assert.deepEqual(build({ Image: 'bb', Cmd: ['echo', 'hi'] }, img).spec.args, ['/init', 'echo', 'hi']);
  assert.deepEqual(build({ Image: 'bb', Entrypoint: [] }, img).spec.args, ['sh'], 'an empty Entrypoint clears it');
  assert.deepEqual(build({ Image: 'bb', Entrypoint: ['/x'] }, img).spec.args, ['/x'], 'an Entrypoint drops the image Cmd');
  assert.throws(() => build({ Image: 'bb' }), (e: { message?: string; status?: number }) => e.status === 400 && e.message === 'no command specified');
});

test('refuses absurd limits and bad policies with 400', () => {
  assert.throws(() => build({ Image: 'bb', Cmd: ['x'], HostConfig: { Memory: 1 << 20 } }), status(400));
  assert.throws(() => build({ Image: 'bb', Cmd: ['x'], HostConfig: { NanoCpus: -1 } }), status(400));
  assert.throws(() => build({ Image: 'bb', Cmd: ['x'], HostConfig: { NanoCpus: 5e9 } }), status(400));
  assert.throws(() => build({ Image: 'bb', Cmd: ['x'], HostConfig: { RestartPolicy: { Name: 'sometimes' } } }), status(400));
  assert.throws(() => build({ Image: 'bb', Cmd: ['x'], HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } }), status(400));
  assert.throws(() => build({ Image: 'bb', Cmd: ['x'], HostConfig: { NetworkMode: 'mynet' } }), status(404));
  const ok = build({ Image: 'bb', Cmd: ['x'], HostConfig: { Memory: 256 << 20, NanoCpus: 1.5e9, PidsLimit: -1 } });
  assert.equal(ok.spec.memorySwap, 512 << 20);
  assert.equal(ok.spec.pidsLimit, 0);
});

test('ports: bindings, exposed, publish-all, none mode', () => {
  const { spec, extra } = build({
    Image: 'bb', Cmd: ['x'], ExposedPorts: { '9000/tcp': {} },
    HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }], '53/udp': [{ HostIp: '', HostPort: '5353' }] }, PublishAllPorts: true },
  });
  assert.deepEqual(spec.ports, [
    { containerPort: 8080, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 },
    { containerPort: 53, protocol: 'udp', hostIp: '', hostPort: 5353 },
    { containerPort: 9000, protocol: 'tcp', hostIp: '', hostPort: 0 },
  ]);
  assert.ok('8080/tcp' in (extra.Config.ExposedPorts as object));
  assert.throws(() => build({ Image: 'bb', Cmd: ['x'], HostConfig: { PortBindings: { 'abc': [{}] } } }), status(400));
  const none = build({ Image: 'bb', Cmd: ['x'], HostConfig: { NetworkMode: 'none', PortBindings: { '80': [{}] } } });
  assert.deepEqual(none.spec.ports, []);
  assert.equal(none.warnings.length, 1);
});

test('names', () => {
  assert.equal(validateName('/web'), 'web');
  assert.throws(() => validateName('bad/name'), status(400));
  assert.throws(() => validateName('-x'), status(400));
});
