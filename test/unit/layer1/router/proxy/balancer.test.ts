// Power of two choices: the less busy of two, never a draining, ejected or already tried backend.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickBackend } from '../../../../../layer1/router/proxy/balancer.ts';
import type { Backend } from '../../../../../layer1/router/types.ts';

const be = (id: string, o: Partial<Backend> = {}): Backend => ({ id, host: '127.0.0.1', port: 1, inflight: 0, ejectedUntil: 0, failures: 0, draining: false, ...o });

describe('pickBackend', () => {
  it('returns null with no usable backend', () => {
    assert.equal(pickBackend([], 0, null), null);
    assert.equal(pickBackend([be('a', { draining: true })], 0, null), null);
    assert.equal(pickBackend([be('a', { ejectedUntil: 100 }), be('b', { draining: true })], 50, null), null);
  });

  it('skips draining, ejected and tried backends', () => {
    const a = be('a', { draining: true });
    const b = be('b', { ejectedUntil: 1000 });
    const c = be('c');
    const d = be('d');
    for (let i = 0; i < 200; i++) {
      const p = pickBackend([a, b, c, d], 500, [d]);
      assert.equal(p, c);
    }
    assert.equal(pickBackend([b], 1001, null), b, 'an ejection ends');
  });

  it('prefers the less busy of two', () => {
    const busy = be('busy', { inflight: 10 });
    const idle = be('idle');
    for (let i = 0; i < 100; i++) assert.equal(pickBackend([busy, idle], 0, null), idle);
    // With many backends, the busiest one is never chosen (it loses every pair).
    const many = [busy, be('x', { inflight: 1 }), be('y', { inflight: 2 }), be('z', { inflight: 3 })];
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const p = pickBackend(many, 0, null)!;
      counts.set(p.id, (counts.get(p.id) ?? 0) + 1);
    }
    assert.equal(counts.get('busy'), undefined);
    assert.ok((counts.get('x') ?? 0) > (counts.get('z') ?? 0));
  });
});
