// The per-entry safety rules of imported tars, and the receiving stream that applies them:
// every evil kind refused with invalid_params, nothing left in the temp dir.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { TarEntryChecker } from '../../../../../layer0/runtime/images/tar-rules.ts';
import { receiveTar } from '../../../../../layer0/runtime/images/tar-receive.ts';
import { EVIL_KINDS, evilTar, gzipTar, tarBuffer } from '../../../../helpers/fixtures.ts';

const tmp = mkdtempSync(join(tmpdir(), 'slipway-tar-rules-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function checkAll(entries: Array<{ path: string; type: string; linkpath?: string }>, allowDevices = false): Array<string | null> {
  const c = new TarEntryChecker(allowDevices);
  return entries.map((e) => c.check(e));
}

test('ordinary Debian-like entries pass, absolute symlink targets included', () => {
  const res = checkAll([
    { path: './', type: 'Directory' },
    { path: './bin', type: 'SymbolicLink', linkpath: 'usr/bin' },
    { path: './usr/bin/', type: 'Directory' },
    { path: './usr/bin/awk', type: 'SymbolicLink', linkpath: '/etc/alternatives/awk' },
    { path: './usr/bin/perl', type: 'File' },
    { path: './usr/bin/perl5', type: 'Link', linkpath: './usr/bin/perl' },
    { path: 'etc/x..y', type: 'File' },
    // a later entry may replace a symlink with a file
    { path: './bin', type: 'File' },
    { path: 'bin/ok-now', type: 'File' },
  ]);
  assert.deepEqual(res, res.map(() => null));
});

test('escapes and writes through symlinks are refused', () => {
  const cases: Array<Array<{ path: string; type: string; linkpath?: string }>> = [
    [{ path: '../x', type: 'File' }],
    [{ path: 'a/../../x', type: 'File' }],
    [{ path: 'a/..', type: 'Directory' }],
    [{ path: '/etc/passwd', type: 'File' }],
    [{ path: 'l', type: 'Link', linkpath: '/etc/shadow' }],
    [{ path: 'l', type: 'Link', linkpath: 'a/../../etc/shadow' }],
    [{ path: 's', type: 'SymbolicLink', linkpath: '/' }, { path: 's/etc/passwd', type: 'File' }],
    [{ path: 's', type: 'SymbolicLink', linkpath: 'x' }, { path: './s/y/z', type: 'File' }],
    [{ path: 's', type: 'SymbolicLink', linkpath: '/' }, { path: 's', type: 'Directory' }],
    [{ path: 's', type: 'SymbolicLink', linkpath: '/' }, { path: 'l', type: 'Link', linkpath: 's/etc/shadow' }],
    [{ path: 'dev/null', type: 'CharacterDevice' }],
    [{ path: 'dev/sda', type: 'BlockDevice' }],
    [{ path: 'p', type: 'FIFO' }],
    [{ path: 'x', type: 'Unsupported' }],
    [{ path: 'l', type: 'Link', linkpath: 'missing' }],
    [{ path: 'd/', type: 'Directory' }, { path: 'l', type: 'Link', linkpath: 'd' }],
    [{ path: 'l', type: 'Link', linkpath: 'l' }],
  ];
  for (const entries of cases) {
    assert.notEqual(checkAll(entries).at(-1), null, JSON.stringify(entries));
  }
});

test('device nodes pass when allowed', () => {
  assert.deepEqual(checkAll([{ path: 'dev/null', type: 'CharacterDevice' }, { path: 'p', type: 'FIFO' }], true), [null, null]);
});

for (const kind of EVIL_KINDS) {
  test(`receiveTar refuses ${kind} (plain and gzip) and leaves no temp file`, async () => {
    for (const body of [evilTar(kind), gzipTar(evilTar(kind))]) {
      await assert.rejects(receiveTar(Readable.from([body]), tmp), (e: { code?: string; status?: number }) => e.code === 'invalid_params' && e.status === 400);
      assert.deepEqual(readdirSync(tmp), []);
    }
  });
}

test('receiveTar: gzip and plain give the same digest; bzip2, xz and garbage are refused', async () => {
  const tar = tarBuffer([{ path: './', type: 'Directory' }, { path: 'hello.txt', data: 'hello\n' }]);
  const plain = await receiveTar(Readable.from([tar]), tmp);
  // one byte at a time exercises the compression sniffing across chunk boundaries
  const gz = await receiveTar(Readable.from([...gzipTar(tar)].map((b) => Buffer.from([b]))), tmp);
  assert.equal(plain.digest, gz.digest);
  assert.equal(plain.size, tar.length);
  assert.match(plain.digest, /^sha256:[0-9a-f]{64}$/);
  rmSync(plain.path);
  rmSync(gz.path);
  for (const bad of [Buffer.from('BZh91AY&SY'), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1]), Buffer.from('not a tar at all'), Buffer.alloc(0), gzipTar(tar).subarray(0, 40)]) {
    await assert.rejects(receiveTar(Readable.from([bad]), tmp), (e: { code?: string }) => e.code === 'invalid_params');
  }
  assert.deepEqual(readdirSync(tmp), []);
});

test('receiveTar drains the source after a refusal', async () => {
  const body = Readable.from([evilTar('dotdot'), Buffer.alloc(1 << 20)]);
  await assert.rejects(receiveTar(body, tmp));
  await new Promise((r) => setImmediate(r));
  if (!body.readableEnded) await new Promise((r) => body.once('end', r));
  assert.ok(body.readableEnded);
});
