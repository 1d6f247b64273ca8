// The role matrix as plain data: a token never exceeds its user, its role or its app.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appRole, atLeast, globalRole, type Principal } from '../../../../layer1/controller/auth/roles.ts';

const p = (o: Partial<Principal>): Principal => ({ userId: 'u', userName: 'u', admin: false, tokenId: 't', tokenRole: 'owner', tokenAppId: null, ...o });

test('atLeast orders view < deploy < owner < admin; null is nothing', () => {
  assert.ok(atLeast('owner', 'deploy'));
  assert.ok(atLeast('admin', 'owner'));
  assert.ok(!atLeast('view', 'deploy'));
  assert.ok(!atLeast(null, 'view'));
});

test('appRole: the weaker of the grant and the token, null when invisible', () => {
  const rows: [Partial<Principal>, string, 'owner' | 'deploy' | 'view' | null, string | null][] = [
    [{}, 'a', null, null],
    [{}, 'a', 'deploy', 'deploy'],
    [{ tokenRole: 'view' }, 'a', 'owner', 'view'],
    [{ tokenAppId: 'b' }, 'a', 'owner', null],
    [{ tokenAppId: 'a', tokenRole: 'deploy' }, 'a', 'owner', 'deploy'],
    [{ admin: true, tokenRole: 'admin' }, 'a', null, 'admin'],
    [{ admin: true, tokenRole: 'deploy' }, 'a', null, 'deploy'],
    [{ admin: true, tokenRole: 'admin', tokenAppId: 'b' }, 'a', null, null],
  ];
  for (const [pr, app, grant, want] of rows) assert.equal(appRole(p(pr), app, grant), want, JSON.stringify({ pr, app, grant }));
});

test('globalRole: admin only for an admin user holding an admin token', () => {
  assert.equal(globalRole(p({ admin: true, tokenRole: 'admin' })), 'admin');
  assert.equal(globalRole(p({ admin: false, tokenRole: 'admin' })), 'owner');
  assert.equal(globalRole(p({ admin: true, tokenRole: 'view' })), 'view');
});
