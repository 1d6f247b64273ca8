// The image store end to end on a real filesystem with GNU tar: busybox import, parents, tags,
// Docker's removal rules, users, restart and crash clean-up, refusals, and the cached stack.
import assert from 'node:assert/strict';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { slipwayPaths } from '../../layer0/common/paths.ts';
import { importStack, STACK_IMAGE, STACK_LATEST } from '../../layer0/runtime/images/stack.ts';
import { ImageStore } from '../../layer0/runtime/images/store.ts';
import { busyboxRootfsTar, EVIL_KINDS, evilTar, gzipTar, tarBuffer } from '../helpers/fixtures.ts';

let dir: string;
let busybox: string;
const body = (b: Buffer) => Readable.from([b]);
const code = (c: string) => (e: { code?: string }) => e.code === c;
const newStore = (name: string, cacheRoot?: string) => new ImageStore({ root: join(dir, name), cacheRoot });
const layerDirs = (root: string) => readdirSync(join(root, 'layers')).filter((n) => /^[0-9a-f]{64}$/.test(n));

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'slipway-images-'));
  busybox = await busyboxRootfsTar(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('imports the busybox rootfs (plain and gzip) into one content-addressed layer', async () => {
  const store = newStore('a');
  const img = await store.importTar(createReadStream(busybox), { reference: 'busybox', changes: ['CMD ["sh"]'], message: 'hi' });
  assert.match(img.id, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(img.tags, ['busybox:latest']);
  assert.deepEqual(img.config.Cmd, ['sh']);
  assert.equal(img.comment, 'hi');
  assert.equal(img.size, statSync(busybox).size);
  const [layer] = store.layerPaths(img.id);
  assert.ok(statSync(join(layer, 'bin/busybox')).mode & 0o111);
  assert.equal(statSync(join(layer, 'app')).uid, 10001);
  assert.equal(statSync(join(layer, 'tmp')).mode & 0o7777, 0o1777);

  const again = await store.importTar(body(gzipTar(readFileSync(busybox))), { reference: 'docker.io/library/busybox:gz' });
  assert.equal(again.layer, img.layer);
  assert.notEqual(again.id, img.id);
  assert.equal(layerDirs(store.root).length, 1);
  assert.deepEqual(store.list().map((i) => i.id).sort(), [img.id, again.id].sort());
  assert.deepEqual(readdirSync(join(store.root, 'tmp')), []);
});

test('resolves by name, tag, full id and id prefix', async () => {
  const store = newStore('b');
  const img = await store.importTar(createReadStream(busybox), { reference: 'busybox:1' });
  const hex = img.id.slice(7);
  for (const ref of ['busybox:1', 'docker.io/library/busybox:1', img.id, hex, hex.slice(0, 4), `sha256:${hex.slice(0, 12)}`]) {
    assert.equal(store.resolve(ref).id, img.id, ref);
  }
  assert.throws(() => store.resolve('busybox'), (e: { code?: string; message?: string }) => e.code === 'image_not_found' && e.message === 'No such image: busybox');
  assert.equal(store.tryResolve('nope'), null);
  assert.equal(store.tryResolve('Bad Ref'), null);
});

test('a child image sits on its parent, inherits its config, and its passwd wins', async () => {
  const store = newStore('c');
  const parent = await store.importTar(createReadStream(busybox), { reference: 'busybox', changes: ['CMD ["sh"]', 'ENV A=1', 'USER app'] });
  await assert.rejects(store.importTar(body(tarBuffer([{ path: 'x', data: '' }])), { parent: 'missing' }), code('image_not_found'));
  const childTar = tarBuffer([
    { path: 'app/', type: 'Directory', uid: 10001, gid: 10001 },
    { path: 'app/hello.txt', data: 'hello\n', uid: 10001, gid: 10001 },
  ]);
  const child = await store.importTar(body(childTar), { parent: 'busybox', reference: 'child', changes: ['ENV B=2'] });
  assert.equal(child.parent, parent.id);
  assert.deepEqual(child.config.Cmd, ['sh']);
  assert.deepEqual(child.config.Env, ['A=1', 'B=2']);
  assert.equal(child.config.User, 'app');
  const paths = store.layerPaths('child');
  assert.equal(paths.length, 2);
  assert.deepEqual(paths.slice(1), store.layerPaths(parent.id));
  assert.ok(existsSync(join(paths[0], 'app/hello.txt')));

  assert.deepEqual(store.resolveUser(child.id, 'app'), { uid: 10001, gid: 10001, additionalGids: [], home: '/app' });
  assert.deepEqual(store.resolveUser(child.id, ''), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  assert.equal(store.resolveUser(child.id, '4242:7').uid, 4242);
  assert.equal(store.resolveUser(child.id, 'app:nogroup').gid, 65534);
  assert.throws(() => store.resolveUser(child.id, 'ghost'), code('invalid_params'));

  const over = await store.importTar(body(tarBuffer([
    { path: 'etc/', type: 'Directory' },
    { path: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\nweb:x:2000:2001::/srv:/bin/sh\n' },
    { path: 'etc/group', data: 'root:x:0:\nweb:x:2001:\nextra:x:3000:web\n' },
  ])), { parent: child.id });
  assert.deepEqual(store.resolveUser(over.id, 'web'), { uid: 2000, gid: 2001, additionalGids: [3000], home: '/srv' });
  assert.throws(() => store.resolveUser(over.id, 'app'), code('invalid_params'));
  assert.deepEqual(store.readPasswd(over.id).users.map((u) => u.name), ['root', 'web']);
});

test('users are never read through a symlink out of the image', async () => {
  const store = newStore('c2');
  const img = await store.importTar(body(tarBuffer([{ path: 'etc', type: 'SymbolicLink', linkpath: '/etc' }])));
  assert.deepEqual(store.readPasswd(img.id), { users: [], groups: [] });
  assert.throws(() => store.resolveUser(img.id, 'root'), code('invalid_params'));
  assert.equal(store.resolveUser(img.id, '').uid, 0);
});

test('tags move between images; Docker removal rules', async () => {
  const store = newStore('d');
  const a = await store.importTar(createReadStream(busybox), { reference: 'app/one' });
  store.tag('app/one', 'app/one:v2');
  store.tag(a.id, 'other');
  const b = await store.importTar(createReadStream(busybox), { reference: 'other:latest' });
  assert.deepEqual(store.resolve(a.id).tags, ['app/one:latest', 'app/one:v2']);
  assert.deepEqual(store.resolve(b.id).tags, ['other:latest']);
  store.tag(a.id, 'other');
  assert.deepEqual(store.resolve(b.id).tags, []);
  assert.equal(store.resolve('other').id, a.id);
  assert.throws(() => store.tag(a.id, 'Bad:ref'), code('invalid_params'));

  // by tag with several tags: only untags
  assert.deepEqual(store.remove('app/one:v2'), [{ Untagged: 'app/one:v2' }]);
  // by id with tags in several repositories: must be forced
  assert.throws(() => store.remove(a.id), code('conflict'));
  // in use by a running container: refused even forced, nothing changed
  const short = a.id.slice(7, 19);
  assert.throws(() => store.remove(a.id, { force: true, isInUse: (id) => id === a.id }), (e: { code?: string; status?: number; message?: string }) =>
    e.code === 'in_use' && e.status === 409 &&
    e.message === `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container`);
  assert.deepEqual(store.resolve(a.id).tags, ['app/one:latest', 'other:latest']);
  // with children: refused
  const child = await store.importTar(body(tarBuffer([{ path: 'c.txt', data: 'c' }])), { parent: a.id });
  assert.throws(() => store.remove(a.id, { force: true }), code('conflict'));
  const childLayer = store.layerPaths(child.id)[0];
  assert.deepEqual(store.remove(child.id), [{ Deleted: child.id }]);
  assert.equal(existsSync(childLayer), false);

  // the layer stays while another image (b, dangling) uses it
  assert.deepEqual(store.remove(a.id, { force: true }), [{ Untagged: 'app/one:latest' }, { Untagged: 'other:latest' }, { Deleted: a.id }]);
  assert.equal(existsSync(store.layerPaths(b.id)[0]), true);
  const layer = store.layerPaths(b.id)[0];
  assert.deepEqual(store.remove(b.id.slice(7, 13)), [{ Deleted: b.id }]);
  await new Promise((r) => setTimeout(r, 100)); // the tree is removed in the background
  assert.equal(existsSync(layer), false);
  assert.deepEqual(layerDirs(store.root), []);
  assert.throws(() => store.remove('app/one'), code('image_not_found'));
  assert.throws(() => store.tag('nope', 'x'), code('image_not_found'));
});

test('metadata survives a restart; leftovers of a killed process are cleaned', async () => {
  const s1 = newStore('e');
  const img = await s1.importTar(createReadStream(busybox), { reference: 'keep' });
  const hex = img.layer.slice(7);
  const root = s1.root;
  // what a kill at various points leaves behind
  mkdirSync(join(root, 'tmp/layer-half-extracted/bin'), { recursive: true });
  writeFileSync(join(root, 'tmp/upload-1234.tar'), 'partial');
  mkdirSync(join(root, 'layers', 'f'.repeat(64)));
  mkdirSync(join(root, 'layers', 'e'.repeat(64)));
  writeFileSync(join(root, 'layers', `${'e'.repeat(64)}.complete`), '{}');
  writeFileSync(join(root, 'layers', `${'d'.repeat(64)}.complete`), '{}');
  writeFileSync(join(root, 'layers', `.tmp-abc-${hex}.complete`), '{');
  writeFileSync(join(root, '.tmp-abc-images.json'), '{');

  const s2 = newStore('e');
  assert.deepEqual(s2.list(), s1.list());
  assert.equal(s2.resolve('keep').id, img.id);
  assert.deepEqual(readdirSync(join(root, 'tmp')), []);
  assert.deepEqual(readdirSync(join(root, 'layers')).sort(), [hex, `${hex}.complete`]);
});

test('evil tars are refused with 400 and leave nothing behind; devices pass when allowed', async () => {
  const store = newStore('f');
  for (const kind of EVIL_KINDS) {
    await assert.rejects(store.importTar(body(evilTar(kind)), { reference: 'evil' }), (e: { status?: number }) => e.status === 400, kind);
  }
  assert.deepEqual(readdirSync(join(store.root, 'tmp')), []);
  assert.deepEqual(readdirSync(join(store.root, 'layers')), []);
  assert.deepEqual(store.list(), []);
  assert.equal(existsSync('/tmp/slipway-evil.txt') || existsSync('/etc/slipway-evil.txt'), false);

  await assert.rejects(store.importTar(createReadStream(busybox), { changes: ['VOLUME /x'] }), code('invalid_params'));
  await assert.rejects(store.importTar(createReadStream(busybox), { reference: 'UPPER' }), code('invalid_params'));

  const dev = await store.importTar(body(evilTar('device')), { allowDevices: true });
  assert.ok(statSync(join(store.layerPaths(dev.id)[0], 'null')).isCharacterDevice());
});

test('a layer pre-extracted in the machine cache is hard-link copied', async () => {
  const warm = newStore('g-warm');
  const src = await warm.importTar(createReadStream(busybox));
  const cacheRoot = join(dir, 'cache');
  mkdirSync(join(cacheRoot, 'layers'), { recursive: true });
  const hex = src.layer.slice(7);
  // the layout deploy/build-stack writes: the tree, then its marker
  rmSync(join(cacheRoot, 'layers', hex), { recursive: true, force: true });
  const { execFileSync } = await import('node:child_process');
  execFileSync('cp', ['-a', warm.layerPaths(src.id)[0], join(cacheRoot, 'layers', hex)]);
  writeFileSync(join(cacheRoot, 'layers', `${hex}.complete`), JSON.stringify({ digest: src.layer, size: 123 }));

  const store = newStore('g', cacheRoot);
  const img = await store.importLayer({ digest: src.layer }, { reference: 'cached' });
  const a = statSync(join(store.layerPaths(img.id)[0], 'bin/busybox'));
  const b = statSync(join(cacheRoot, 'layers', hex, 'bin/busybox'));
  assert.equal(a.ino, b.ino);
  assert.equal(img.size, 123);
  // and through importTar too: same digest → the cached tree, not an extraction
  const store2 = newStore('g2', cacheRoot);
  const img2 = await store2.importTar(createReadStream(busybox));
  assert.equal(statSync(join(store2.layerPaths(img2.id)[0], 'bin/busybox')).ino, b.ino);
  await assert.rejects(newStore('g3').importLayer({ digest: `sha256:${'0'.repeat(64)}` }), code('image_not_found'));
});

test('the stack imports from the machine cache in seconds', async (t) => {
  const paths = slipwayPaths();
  if (!existsSync(join(paths.cache, 'stacks', 'bookworm.current'))) {
    t.skip(`no stack in ${paths.cache}: run deploy/build-stack`);
    return;
  }
  const store = newStore('stack', paths.cache);
  const t0 = Date.now();
  const img = await importStack(store, paths);
  const ms = Date.now() - t0;
  t.diagnostic(`stack import from cache: ${ms} ms`);
  assert.ok(ms < 10_000, `took ${ms} ms`);
  assert.deepEqual(img.tags, [STACK_IMAGE, STACK_LATEST]);
  assert.deepEqual(store.resolveUser(img.id, 'app'), { uid: 10001, gid: 10001, additionalGids: [], home: '/app' });
  const [layer] = store.layerPaths(img.id);
  assert.ok(existsSync(join(layer, 'usr/bin/node')));
  // idempotent
  assert.equal((await importStack(store, paths)).id, img.id);
  rmSync(store.root, { recursive: true, force: true });
});
