// applyChanges: each supported instruction, inheritance from a base config, and 400s on bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyChanges, splitWords } from '../../../../../layer0/runtime/images/changes.ts';
import { ImageConfigSchema } from '../../../../../layer0/runtime/types.ts';

const empty = () => ImageConfigSchema.parse({});

test('CMD and ENTRYPOINT take the JSON exec form or the shell form', () => {
  assert.deepEqual(applyChanges(empty(), ['CMD ["sh", "-c", "echo hi"]']).Cmd, ['sh', '-c', 'echo hi']);
  assert.deepEqual(applyChanges(empty(), ['CMD echo hi']).Cmd, ['/bin/sh', '-c', 'echo hi']);
  assert.deepEqual(applyChanges(empty(), ['ENTRYPOINT ["/bin/busybox"]']).Entrypoint, ['/bin/busybox']);
  assert.deepEqual(applyChanges(empty(), ['cmd []']).Cmd, []);
  // Docker falls back to the shell form when the JSON does not parse.
  assert.deepEqual(applyChanges(empty(), ['CMD [sh']).Cmd, ['/bin/sh', '-c', '[sh']);
});

test('ENV takes K=V pairs (quoted) and the legacy K V form, replacing existing keys', () => {
  const cfg = applyChanges(empty(), ['ENV A=1 B="two words" C=x\\ y', 'ENV D hello  world', 'ENV A=3']);
  assert.deepEqual(cfg.Env, ['B=two words', 'C=x y', 'D=hello world', 'A=3']);
});

test('WORKDIR, USER, EXPOSE, LABEL, STOPSIGNAL', () => {
  const cfg = applyChanges(empty(), [
    'WORKDIR /app', 'WORKDIR sub', 'USER app', 'EXPOSE 80 53/udp 8000-8001/TCP',
    'LABEL a=b "c d"=e', 'STOPSIGNAL SIGQUIT',
  ]);
  assert.equal(cfg.WorkingDir, '/app/sub');
  assert.equal(cfg.User, 'app');
  assert.deepEqual(Object.keys(cfg.ExposedPorts).sort(), ['53/udp', '80/tcp', '8000/tcp', '8001/tcp']);
  assert.deepEqual(cfg.Labels, { a: 'b', 'c d': 'e' });
  assert.equal(cfg.StopSignal, 'SIGQUIT');
  assert.equal(applyChanges(empty(), ['STOPSIGNAL 15']).StopSignal, '15');
  assert.equal(applyChanges(empty(), ['USER 10001:10001']).User, '10001:10001');
});

test('a child inherits the base config; the base is not modified', () => {
  const base = applyChanges(empty(), ['CMD ["sh"]', 'ENV A=1', 'USER app']);
  const child = applyChanges(base, ['ENV B=2']);
  assert.deepEqual(child.Cmd, ['sh']);
  assert.deepEqual(child.Env, ['A=1', 'B=2']);
  assert.equal(child.User, 'app');
  assert.deepEqual(base.Env, ['A=1']);
});

test('a new ENTRYPOINT resets an inherited CMD, unless CMD is set too', () => {
  const base = applyChanges(empty(), ['CMD ["sh"]']);
  assert.equal(applyChanges(base, ['ENTRYPOINT ["x"]']).Cmd, null);
  assert.deepEqual(applyChanges(base, ['ENTRYPOINT ["x"]', 'CMD ["y"]']).Cmd, ['y']);
});

test('bad changes are invalid_params', () => {
  for (const bad of [
    'FROM scratch', 'VOLUME /data', 'RUN echo', 'CMD', 'ENV', 'ENV =x', 'ENV K', 'EXPOSE', 'EXPOSE 0',
    'EXPOSE 70000', 'EXPOSE http', 'EXPOSE 80/icmp', 'STOPSIGNAL SIGNOPE', 'USER a b', 'WORKDIR',
    'LABEL', '"CMD" x', '', 'ENV A="unterminated',
  ]) {
    assert.throws(() => applyChanges(empty(), [bad]), (e: { code?: string }) => e.code === 'invalid_params', bad);
  }
});

test('splitWords handles quotes and escapes', () => {
  assert.deepEqual(splitWords(`a "b c" 'd e' f\\ g "h\\"i"`), ['a', 'b c', 'd e', 'f g', 'h"i']);
  assert.deepEqual(splitWords('  '), []);
});
