// Plain-data fixtures of the deploy unit tests.
import type { Release } from '../../../../../layer1/controller/deploy/types.ts';

export function release(extra: Partial<Release> = {}): Release {
  return {
    app: 'shop', appId: 'a1b2', version: 7, image: 'bb:1', imageUrl: 'http://127.0.0.1:1/bb.tar', imageParent: null, build: null, healthchecks: {},
    procfile: { web: 'httpd -f -p $PORT -h /', worker: 'sleep 1000' }, config: { FOO: 'bar', PORT_X: '1' },
    createdBy: 'ann', reason: 'test', createdAt: '2024-01-01T00:00:00Z', status: 'pending', ...extra,
  };
}
