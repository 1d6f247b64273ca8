// The prune filter's `until` forms (Docker's: a Go duration before now, Unix seconds, RFC 3339),
// and what a prune spares: images labelled `slipway.keep`, and those a `label!` filter names.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pruneImages, untilMs } from '../../../../layer0/agent/image-prune.ts';
import type { ImageStore } from '../../../../layer0/runtime/images/store.ts';
import type { ContainerRuntime, ImageRecord } from '../../../../layer0/runtime/types.ts';

describe('image prune until', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  it('reads durations, timestamps and dates', () => {
    assert.equal(untilMs('10m', now), now - 600_000);
    assert.equal(untilMs('24h', now), now - 86_400_000);
    assert.equal(untilMs('1.5s', now), now - 1500);
    assert.equal(untilMs('1767268800', now), 1767268800_000);
    assert.equal(untilMs('2026-01-01T00:00:00Z', now), Date.parse('2026-01-01T00:00:00Z'));
  });
  it('refuses anything else', () => {
    assert.throws(() => untilMs('soon', now), /invalid until/);
  });
});

describe('image prune spares', () => {
  const img = (id: string, labels: Record<string, string>): ImageRecord => ({ id, parent: null, layer: `l-${id}`, tags: [`${id}:1`], created: '2025-01-01T00:00:00Z', comment: '', config: { Labels: labels } as ImageRecord['config'], size: 10 });
  /** An image store of `all` (remove deletes by id) and a runtime with no containers. */
  const fakes = (all: ImageRecord[]) => {
    const images = {
      list: () => [...all],
      remove: (id: string) => {
        all.splice(all.findIndex((i) => i.id === id), 1);
        return [{ Deleted: id }];
      },
    } as unknown as ImageStore;
    return { images, runtime: { list: () => [] } as unknown as ContainerRuntime };
  };
  const prune = (all: ImageRecord[], filters: Record<string, string[]>) => {
    const { images, runtime } = fakes(all);
    return pruneImages(images, runtime, new Map(Object.entries({ dangling: ['false'], ...filters }))).ImagesDeleted.map((d) => d.Deleted).sort();
  };
  it('images labelled slipway.keep, whatever the filters', () => {
    assert.deepEqual(prune([img('a', {}), img('b', { 'slipway.keep': '' }), img('c', { 'slipway.keep': 'true', x: 'y' })], { label: ['x=y'] }), []);
    assert.deepEqual(prune([img('a', {}), img('b', { 'slipway.keep': '' })], {}), ['a']);
  });
  it('images a label! filter names (by key, or key=value)', () => {
    const all = () => [img('a', { tier: 'gold' }), img('b', { tier: 'bronze' }), img('c', {})];
    assert.deepEqual(prune(all(), { 'label!': ['tier=gold'] }), ['b', 'c']);
    assert.deepEqual(prune(all(), { 'label!': ['tier'] }), ['c']);
  });
});
