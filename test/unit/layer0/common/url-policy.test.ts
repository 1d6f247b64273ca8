// The URL policy for tenant-named URLs: schemes, blocked ranges (v4, v6, v4-mapped), the
// operator's allow-list, and the connect-time lookup that refuses a re-pointed name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from 'node:net';
import { createServer } from 'node:http';
import { addressAllowed, checkUrl, policyLookup, urlPolicy } from '../../../../layer0/common/url-policy.ts';

test('blocked ranges: loopback, private, link-local, metadata, v6 local and v4-mapped', () => {
  const p = urlPolicy(['https'], '');
  for (const a of ['127.0.0.1', '10.1.2.3', '172.31.0.5', '192.168.1.1', '169.254.169.254', '0.0.0.0', '100.64.0.1', '224.0.0.1', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::']) {
    assert.equal(addressAllowed(a, p), false, a);
  }
  for (const a of ['93.184.216.34', '2606:4700::1111', '1.1.1.1']) assert.equal(addressAllowed(a, p), true, a);
  assert.equal(addressAllowed('not-an-ip', p), false);
});

test('the operator allow-list opens exactly what it names', () => {
  const p = urlPolicy(['http', 'https'], '127.0.0.1, 10.9.0.0/16 ,registry.test');
  assert.equal(addressAllowed('127.0.0.1', p), true);
  assert.equal(addressAllowed('127.0.0.2', p), false);
  assert.equal(addressAllowed('10.9.200.1', p), true);
  assert.equal(addressAllowed('10.8.0.1', p), false);
  assert.equal(p.allowHosts.has('registry.test'), true);
});

test('checkUrl: scheme, form and resolved addresses, with messages that say what is refused', async () => {
  const p = urlPolicy(['https'], '');
  await assert.rejects(checkUrl('file:///etc/passwd', p, 'BUILDPACK_URL'), /must use https:\/\/ \(not file:\/\/\)/);
  await assert.rejects(checkUrl('nonsense', p), /not a valid URL/);
  await assert.rejects(checkUrl('https://127.0.0.1/x', p), /private address/);
  await assert.rejects(checkUrl('https://[::1]/x', p), /private address/);
  await assert.rejects(checkUrl('https://localhost/x', p), /private address/);
  await assert.rejects(checkUrl('https://169.254.169.254/latest', p), /private address/);
  const ok = await checkUrl('https://127.0.0.1:8443/x', urlPolicy(['https'], '127.0.0.1'));
  assert.equal(ok.port, '8443');
});

test('policyLookup refuses a private address at connect time and lets an allowed one through', async () => {
  const srv = createServer((_q, r) => r.end('ok'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  try {
    const tryConnect = (allow: string) => new Promise<string>((resolve) => {
      const s = connect({ host: 'localhost', port, lookup: policyLookup(urlPolicy(['http'], allow)) as never });
      s.on('connect', () => { s.destroy(); resolve('connected'); });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    assert.equal(await tryConnect(''), 'EACCES');
    assert.equal(await tryConnect('127.0.0.1'), 'connected');
  } finally {
    srv.close();
  }
});
