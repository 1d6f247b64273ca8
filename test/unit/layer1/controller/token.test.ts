// Token secrets, their hashes and the Bearer header parser; random app names; paging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, hashToken, newTokenSecret } from '../../../../layer1/controller/auth/token.ts';
import { randomAppName } from '../../../../layer1/controller/names.ts';
import { page, timeId } from '../../../../layer1/controller/store/keys.ts';
import { APP_NAME_RE } from '../../../../layer1/controller/types.ts';

test('secrets are slw_ + 32 random bytes, hashed with sha256', () => {
  const a = newTokenSecret();
  assert.match(a, /^slw_[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(a.slice(4), 'base64url').length, 32);
  assert.notEqual(a, newTokenSecret());
  assert.match(hashToken(a), /^[0-9a-f]{64}$/);
  assert.equal(hashToken(a), hashToken(a));
});

test('bearer accepts only a well-formed Bearer token', () => {
  const t = newTokenSecret();
  assert.equal(bearer(`Bearer ${t}`), t);
  assert.equal(bearer(`bearer  ${t} `), t);
  for (const h of [undefined, '', 'Bearer', `Basic ${t}`, t, `Bearer ${t}x`, `Bearer ${t} extra`, 'Bearer slw_short']) assert.equal(bearer(h), null, String(h));
});

test('random app names are valid and readable', () => {
  for (let i = 0; i < 500; i++) {
    const n = randomAppName();
    assert.match(n, APP_NAME_RE);
    assert.match(n, /^[a-z]+-[a-z]+-\d{4}$/);
  }
});

test('timeId sorts by creation time', async () => {
  const a = timeId('tok');
  await new Promise((r) => setTimeout(r, 2));
  const b = timeId('tok');
  assert.match(a, /^tok_[a-z0-9]{17}$/);
  assert.ok(a < b);
});

test('page takes items after the cursor and says where to continue', () => {
  const xs = ['a', 'b', 'c', 'd', 'e'];
  const id = (x: string) => x;
  assert.deepEqual(page(xs, id, 2), { items: ['a', 'b'], next: 'b' });
  assert.deepEqual(page(xs, id, 2, 'b'), { items: ['c', 'd'], next: 'd' });
  assert.deepEqual(page(xs, id, 2, 'd'), { items: ['e'], next: null });
  assert.deepEqual(page(xs, id, 2, 'bb'), { items: ['c', 'd'], next: 'd' });
  assert.deepEqual(page(xs, id, 2, 'z'), { items: [], next: null });
  assert.deepEqual(page(xs, id, 5), { items: xs, next: null });
});
