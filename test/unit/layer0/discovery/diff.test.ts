import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEvent, diffInstances, sameInstance } from '../../../../layer0/discovery/diff.ts';
import { decodeEntry } from '../../../../layer0/discovery/watch.ts';
import type { Instance } from '../../../../layer0/discovery/types.ts';

const inst = (id: string, addr = `10.0.0.1:${id.length}`, meta: Record<string, string> = {}, registeredAt = 1): Instance => ({ id, service: 'web', addr, meta, registeredAt });

test('the diff of two snapshots: down, then update, then up, each by id', () => {
  const before = [inst('a'), inst('b'), inst('c', 'x:1'), inst('z')];
  const after = [inst('c', 'x:2'), inst('b'), inst('d'), inst('a0')];
  const evs = diffInstances(before, after);
  assert.deepEqual(
    evs.map((e) => (e.type === 'current' ? 'current' : `${e.type}:${e.instance.id}`)),
    ['down:a', 'down:z', 'update:c', 'up:a0', 'up:d'],
  );
  // `down` carries what the consumer knew; `update` and `up` the new state.
  assert.equal(evs[0].type !== 'current' && evs[0].instance.addr, before[0].addr);
  assert.equal(evs[2].type !== 'current' && evs[2].instance.addr, 'x:2');
});

test('applying the diff turns one view into the other, and equal views give no events', () => {
  const before = [inst('a'), inst('b', 'h:1', { k: 'v' })];
  const after = [inst('b', 'h:1', { k: 'w' }), inst('c')];
  const view = new Map(before.map((i) => [i.id, i]));
  for (const ev of diffInstances(before, after)) applyEvent(view, ev);
  assert.deepEqual([...view.values()].sort((x, y) => x.id.localeCompare(y.id)), after);
  assert.deepEqual(diffInstances(after, [...after].reverse()), []);
});

test('a re-registration (new registeredAt) is an update; meta order does not matter', () => {
  assert.equal(sameInstance(inst('a', 'h', { x: '1', y: '2' }), inst('a', 'h', { y: '2', x: '1' })), true);
  assert.equal(sameInstance(inst('a', 'h', { x: '1' }), inst('a', 'h', { x: '1', y: '2' })), false);
  assert.deepEqual(diffInstances([inst('a', 'h', {}, 1)], [inst('a', 'h', {}, 2)]).map((e) => e.type), ['update']);
});

test('applyEvent: current replaces the view', () => {
  const view = new Map([['old', inst('old')]]);
  applyEvent(view, { type: 'current', instances: [inst('a')] });
  assert.deepEqual([...view.keys()], ['a']);
  applyEvent(view, { type: 'down', instance: inst('a') });
  assert.equal(view.size, 0);
});

test('stream entries decode, and unreadable ones are refused', () => {
  const json = JSON.stringify(inst('a'));
  assert.deepEqual(decodeEntry(['type', 'up', 'seq', '7', 'instance', json]), { seq: 7, event: { type: 'up', instance: inst('a') } });
  assert.equal(decodeEntry(['type', 'weird', 'seq', '7', 'instance', json]), null);
  assert.equal(decodeEntry(['type', 'up', 'instance', json]), null);
});
