// The blobstore, library and HTTP server: put/get round trips with the sha256 id, ?sha256=
// verification, ranges, ETag, auth (bearer, ?token=, signed URLs and their expiry), bad ids as
// 4xx, delete, gc with keep and grace, a 200 MB blob through HTTP with flat memory, and the
// agent-style fetch of a signed URL with no header.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { connectBlobs, localBlobs } from '../../layer1/blobstore/client.ts';
import { parseRange, startBlobServer, type RunningBlobServer } from '../../layer1/blobstore/server.ts';
import { loadOrCreateBlobToken } from '../../layer1/blobstore/token.ts';
import { agentReadToken, signBlobUrl } from '../../layer1/blobstore/signing.ts';
import { BlobStore } from '../../layer1/blobstore/store.ts';

const TOKEN = `blobtok-${randomBytes(8).toString('hex')}`;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
let dir: string;
let srv: RunningBlobServer;

interface Res {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

function call(method: string, path: string, o: { headers?: Record<string, string>; body?: Buffer | Readable; auth?: boolean } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers = { ...(o.auth === false ? {} : { Authorization: `Bearer ${TOKEN}` }), ...o.headers };
    const req = request(`${srv.url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (o.body instanceof Readable) o.body.pipe(req);
    else req.end(o.body);
  });
}

const errCode = (r: Res) => (JSON.parse(r.body.toString()) as { error: { code: string } }).error.code;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'slwt-blobs-'));
  srv = await startBlobServer({ dir: join(dir, 'blobs'), port: 0, token: TOKEN });
});

after(async () => {
  await srv?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('blobstore', () => {
  it('stores by sha256, sharded, and streams it back with length and ETag', async () => {
    const data = randomBytes(100_000);
    const put = await call('PUT', '/blobs', { body: data });
    assert.equal(put.status, 201);
    const { id, size } = JSON.parse(put.body.toString()) as { id: string; size: number };
    assert.equal(id, sha(data));
    assert.equal(size, data.length);
    assert.ok(readdirSync(join(dir, 'blobs', id.slice(0, 2))).includes(id), 'sharded by the first two hex digits');
    assert.deepEqual(readdirSync(join(dir, 'blobs', 'tmp')), [], 'no temp file left');
    const again = await call('PUT', '/blobs', { body: data });
    assert.equal(again.status, 200, 'the same content again: 200, not stored twice');

    const get = await call('GET', `/blobs/${id}`);
    assert.equal(get.status, 200);
    assert.equal(get.headers['content-length'], String(data.length));
    assert.equal(get.headers.etag, `"${id}"`);
    assert.ok(get.body.equals(data));
    const head = await call('HEAD', `/blobs/${id}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(data.length));
    assert.equal(head.body.length, 0);
    const cond = await call('GET', `/blobs/${id}`, { headers: { 'If-None-Match': `"${id}"` } });
    assert.equal(cond.status, 304);
  });

  it('verifies ?sha256= and keeps nothing on a mismatch', async () => {
    const data = Buffer.from('checked content');
    const ok = await call('PUT', `/blobs?sha256=${sha(data)}`, { body: data });
    assert.equal(ok.status, 201);
    const wrong = sha('something else');
    const bad = await call('PUT', `/blobs?sha256=${wrong}`, { body: Buffer.from('other content') });
    assert.equal(bad.status, 400);
    assert.equal(errCode(bad), 'invalid_params');
    assert.match(bad.body.toString(), /sha256 mismatch/);
    assert.equal((await call('HEAD', `/blobs/${sha('other content')}`)).status, 404);
    assert.deepEqual(readdirSync(join(dir, 'blobs', 'tmp')), []);
    assert.equal((await call('PUT', '/blobs?sha256=nothex', { body: data })).status, 400);
  });

  it('serves byte ranges', async () => {
    const data = Buffer.from('0123456789abcdefghij');
    const id = (JSON.parse((await call('PUT', '/blobs', { body: data })).body.toString()) as { id: string }).id;
    const r = await call('GET', `/blobs/${id}`, { headers: { Range: 'bytes=5-9' } });
    assert.equal(r.status, 206);
    assert.equal(r.body.toString(), '56789');
    assert.equal(r.headers['content-range'], `bytes 5-9/${data.length}`);
    assert.equal(r.headers['content-length'], '5');
    assert.equal((await call('GET', `/blobs/${id}`, { headers: { Range: 'bytes=15-' } })).body.toString(), 'fghij');
    assert.equal((await call('GET', `/blobs/${id}`, { headers: { Range: 'bytes=-3' } })).body.toString(), 'hij');
    const un = await call('GET', `/blobs/${id}`, { headers: { Range: 'bytes=100-' } });
    assert.equal(un.status, 416);
    assert.equal(un.headers['content-range'], `bytes */${data.length}`);
  });

  it('requires the token; accepts ?token=; refuses bad ids with 4xx and unknown ones with 404', async () => {
    const data = Buffer.from('secret slug');
    const id = sha(data);
    await call('PUT', '/blobs', { body: data });
    const none = await call('GET', `/blobs/${id}`, { auth: false });
    assert.equal(none.status, 401);
    assert.equal(errCode(none), 'unauthorized');
    assert.match(String(none.headers['www-authenticate']), /Bearer/);
    assert.equal((await call('GET', `/blobs/${id}`, { auth: false, headers: { Authorization: 'Bearer nope' } })).status, 401);
    assert.equal((await call('PUT', '/blobs', { auth: false, body: Buffer.from('x') })).status, 401);
    assert.equal((await call('DELETE', `/blobs/${id}`, { auth: false })).status, 401);
    assert.equal((await call('GET', `/blobs/${id}?token=${TOKEN}`, { auth: false })).status, 200);
    assert.equal((await call('GET', `/blobs/${id}?token=wrong`, { auth: false })).status, 401);
    for (const bad of ['abc', id.toUpperCase(), `${id}0`, '..%2F..%2Fetc%2Fpasswd', `${id.slice(0, 63)}g`]) {
      const r = await call('GET', `/blobs/${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(errCode(r), 'invalid_params');
    }
    assert.equal((await call('GET', '/blobs/a/b')).status, 404);
    assert.equal((await call('GET', `/blobs/${sha('never stored')}`)).status, 404);
    assert.equal((await call('POST', `/blobs/${id}`)).status, 405);
  });

  it('signed URLs read one blob until they expire, and nothing else', async () => {
    const data = Buffer.from('signed slug');
    const other = Buffer.from('another blob');
    const id = sha(data);
    await call('PUT', '/blobs', { body: data });
    await call('PUT', '/blobs', { body: other });
    const url = new URL(signBlobUrl(srv.url, TOKEN, id, 60));
    const ok = await call('GET', `${url.pathname}${url.search}`, { auth: false });
    assert.equal(ok.status, 200);
    assert.ok(ok.body.equals(data));
    assert.equal((await call('HEAD', `${url.pathname}${url.search}`, { auth: false })).status, 200);
    // the signature is bound to the id and to the method
    assert.equal((await call('GET', `/blobs/${sha(other)}${url.search}`, { auth: false })).status, 403);
    assert.equal((await call('DELETE', `${url.pathname}${url.search}`, { auth: false })).status, 401);
    const tampered = url.search.replace(/exp=(\d+)/, (_m, e: string) => `exp=${Number(e) + 1000}`);
    assert.equal((await call('GET', `${url.pathname}${tampered}`, { auth: false })).status, 403);
    const expired = new URL(signBlobUrl(srv.url, TOKEN, id, 1, Date.now() - 10_000));
    const exp = await call('GET', `${expired.pathname}${expired.search}`, { auth: false });
    assert.equal(exp.status, 403);
    assert.match(exp.body.toString(), /expired/);
    const otherKey = new URL(signBlobUrl(srv.url, 'another-token', id, 60));
    assert.equal((await call('GET', `${otherKey.pathname}${otherKey.search}`, { auth: false })).status, 403);
  });

  it('the agents\' read token reads a blob by its bare URL, and does nothing else', async () => {
    const data = Buffer.from('a slug the agents read');
    const id = sha(data);
    await call('PUT', '/blobs', { body: data });
    const read = { auth: false, headers: { Authorization: `Bearer ${agentReadToken(TOKEN)}` } };
    // The bare URL (what a release stores) alone reads nothing.
    assert.equal((await call('GET', `/blobs/${id}`, { auth: false })).status, 401);
    const ok = await call('GET', `/blobs/${id}`, read);
    assert.equal(ok.status, 200);
    assert.ok(ok.body.equals(data));
    assert.equal((await call('HEAD', `/blobs/${id}`, read)).status, 200);
    assert.equal((await call('GET', '/blobs', read)).status, 403);
    assert.equal((await call('PUT', '/blobs', { ...read, body: Buffer.from('x') })).status, 403);
    assert.equal((await call('DELETE', `/blobs/${id}`, read)).status, 403);
    assert.equal((await call('GET', `/blobs/${id}`)).status, 200, 'still there');
    // Derived from the server's token: another token's read token is nobody's.
    assert.equal((await call('GET', `/blobs/${id}`, { auth: false, headers: { Authorization: `Bearer ${agentReadToken('another-token')}` } })).status, 401);
    // The client names bare URLs and hands agents that credential for exactly the server's origin.
    const c = localBlobs(srv.store, { url: srv.url, token: TOKEN });
    assert.equal(c.blobUrl(id), `${srv.url}/blobs/${id}`);
    assert.deepEqual(c.agentFetchAuth(), { origin: new URL(srv.url).origin, bearer: agentReadToken(TOKEN) });
  });

  it('the HTTP client puts, gets, checks and deletes', async () => {
    const c = connectBlobs({ url: srv.url, token: TOKEN });
    const data = randomBytes(5000);
    const r = await c.put(Readable.from([data]), { sha256: sha(data) });
    assert.equal(r.id, sha(data));
    assert.ok(await c.has(r.id));
    const chunks: Buffer[] = [];
    for await (const ch of await c.get(r.id)) chunks.push(ch as Buffer);
    assert.ok(Buffer.concat(chunks).equals(data));
    assert.equal(await c.delete(r.id), true);
    assert.equal(await c.delete(r.id), false);
    assert.equal(await c.has(r.id), false);
    await assert.rejects(c.get(r.id), /404/);
    await assert.rejects(connectBlobs({ url: srv.url, token: 'bad' }).put(Readable.from([data])), /401/);
  });

  it('parses ranges as RFC 9110 says (one range; junk and multi-range serve it all)', () => {
    assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange('bytes=5-100', 10), { start: 5, end: 9 });
    assert.deepEqual(parseRange('bytes=-100', 10), { start: 0, end: 9 });
    assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=5-2', 10), null);
    assert.equal(parseRange('bytes=0-1,3-4', 10), null);
    assert.equal(parseRange('items=0-1', 10), null);
    assert.equal(parseRange(undefined, 10), null);
  });

  it('the token file is made once, 0600, and read back', async () => {
    const home = join(dir, 'token-home');
    const t = await loadOrCreateBlobToken(home);
    assert.match(t, /^slwb_[A-Za-z0-9_-]{40,}$/);
    assert.equal(statSync(join(home, 'blob-token')).mode & 0o777, 0o600);
    assert.equal(await loadOrCreateBlobToken(home), t);
  });

  it('gc deletes what is neither kept nor young', async () => {
    const store = await BlobStore.open(join(dir, 'gc'));
    const ids: string[] = [];
    for (const s of ['a', 'b', 'c', 'd']) ids.push((await store.put(Readable.from([Buffer.from(`blob ${s}`)]))).id);
    const old = (Date.now() - 2 * 3600_000) / 1000;
    for (const id of ids.slice(0, 3)) utimesSync(store.pathOf(id), old, old);
    const r = await store.gc({ keep: new Set([ids[0]!]), graceMs: 3600_000 });
    assert.deepEqual(r.deleted.sort(), [ids[1]!, ids[2]!].sort());
    assert.equal(r.kept, 2);
    assert.deepEqual((await store.list()).map((b) => b.id).sort(), [ids[0]!, ids[3]!].sort());
    assert.deepEqual(await store.usage(), { blobs: 2, bytes: 12 });
  });

  it('a 200 MB blob goes through HTTP both ways with flat memory', { timeout: 120_000 }, async () => {
    const SIZE = 200 * 2 ** 20;
    const chunk = randomBytes(2 ** 20);
    const hash = createHash('sha256');
    let sent = 0;
    const source = new Readable({
      read() {
        if (sent >= SIZE) return this.push(null);
        const c = Buffer.from(chunk);
        c.writeUInt32BE(sent / chunk.length, 0); // every MiB differs
        hash.update(c);
        sent += c.length;
        this.push(c);
      },
    });
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    try {
      const put = await call('PUT', '/blobs', { body: source });
      assert.equal(put.status, 201, put.body.toString());
      const { id, size } = JSON.parse(put.body.toString()) as { id: string; size: number };
      assert.equal(size, SIZE);
      assert.equal(id, hash.digest('hex'));
      const back = createHash('sha256');
      let got = 0;
      await new Promise<void>((resolve, reject) => {
        const req = request(`${srv.url}/blobs/${id}`, { headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
          assert.equal(res.headers['content-length'], String(SIZE));
          res.on('data', (c: Buffer) => {
            back.update(c);
            got += c.length;
          });
          res.on('end', resolve);
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(got, SIZE);
      assert.equal(back.digest('hex'), id);
      assert.equal((await call('DELETE', `/blobs/${id}`)).status, 204);
    } finally {
      clearInterval(timer);
    }
    const grew = (peak - rss0) / 2 ** 20;
    assert.ok(grew < 64, `memory grew by ${grew.toFixed(1)} MiB moving 200 MiB (server and client in one process)`);
  });
});
