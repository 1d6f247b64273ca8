// Slug URLs (issue 13, L5): a release used to store its slug's blobstore URL signed for 30 days,
// a capability that outlived any revoked access. Now the release stores the bare URL, which reads
// nothing alone; the agents read it with the blobstore's read token, sent only to exactly the blob
// origin, never for a URL a tenant named, never after a redirect. On a platform of
// `slipway up --detach` (real runc, buildpacks, Redis): the app deploys, scales to a second
// process and runs a one-off through that path; a test server on another loopback port named in
// an image URL gets no Authorization header.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { connectAgent } from '../../layer0/agent/client.ts';
import { parseFetchAuth, fetchAuthHeader } from '../../layer0/agent/fetch-auth.ts';
import { findLeaks } from '../helpers/leaks.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { freePort, until } from '../helpers/wait.ts';
import { httpGet } from '../helpers/http.ts';
import { BIN, fixtureRepo, push, slipwayIn } from '../helpers/git-push.ts';

const execFileP = promisify(execFile);

describe('fetch auth entries', () => {
  it('parse, normalise the origin, and match exactly that origin', () => {
    const list = parseFetchAuth('# blobs\nhttp://127.0.0.1:7001/ tokA, https://Blobs.Example:443 tokB\n');
    assert.deepEqual(list, [{ origin: 'http://127.0.0.1:7001', bearer: 'tokA' }, { origin: 'https://blobs.example', bearer: 'tokB' }]);
    assert.equal(fetchAuthHeader(list, new URL('http://127.0.0.1:7001/blobs/x?y=1')), 'Bearer tokA');
    for (const other of ['http://127.0.0.1:7002/blobs/x', 'https://127.0.0.1:7001/', 'http://localhost:7001/', 'http://127.0.0.1.evil:7001/', 'http://blobs.example/']) {
      assert.equal(fetchAuthHeader(list, new URL(other)), null, other);
    }
    assert.throws(() => parseFetchAuth('http://a:1'), /origin> <token>/);
    assert.throws(() => parseFetchAuth('ftp://a:1 t'), /not an http\(s\) origin/);
  });
});

/** A loopback server that records the headers it gets; `redirectTo` answers 302 there, else 404. */
async function recorder(redirectTo?: () => string): Promise<{ server: Server; port: number; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    if (redirectTo) res.writeHead(302, { Location: redirectTo() }).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port, seen };
}

describe('slug URLs on a platform', { timeout: 900_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'slwt-slugurl-'));
  let env: NodeJS.ProcessEnv;
  let cli: NodeJS.ProcessEnv;
  let other: Awaited<ReturnType<typeof recorder>>;
  let trusted: Awaited<ReturnType<typeof recorder>>;
  const up = (args: string[], timeout = 180_000) => execFileP(process.execPath, [BIN, ...args], { env, timeout });

  before(async () => {
    other = await recorder();
    trusted = await recorder(() => `http://127.0.0.1:${other.port}/after-redirect`);
    env = {
      ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: testPrefix('s'),
      SLIPWAY_API_PORT: String(await freePort()), SLIPWAY_HTTP_PORT: String(await freePort()), SLIPWAY_HTTPS_PORT: String(await freePort()),
      SLIPWAY_ROUTER_ADMIN_PORT: String(await freePort()), SLIPWAY_BLOB_PORT: String(await freePort()),
      // A second credential, for the recorder's origin (the agent option is generic), and loopback
      // allowed for tenant-named URLs so the untrusted fetch below really reaches the servers.
      SLIPWAY_FETCH_AUTH: `http://127.0.0.1:${trusted.port} recorder-token`,
      SLIPWAY_URL_ALLOW: '127.0.0.1',
    };
    const r = await up(['up', '--detach']);
    assert.match(r.stdout, /slipway is up/);
    cli = { ...process.env, SLIPWAY_URL: `http://127.0.0.1:${env.SLIPWAY_API_PORT}`, SLIPWAY_TOKEN: readFileSync(join(dir, 'home', 'admin-token'), 'utf8').trim() };
  });

  after(async () => {
    await up(['down'], 70_000).catch(() => undefined);
    other.server.close();
    trusted.server.close();
    const leaks = await findLeaks(env.SLIPWAY_PREFIX!, { runcRoots: [join(dir, 'run', 'runc')] });
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(leaks, [], 'slipway down leaves nothing');
  });

  let imageUrl = '';

  it('a release stores a bare slug URL that reads nothing without the agents\' credential; the app deploys, scales and runs a one-off', async () => {
    const repo = join(dir, 'apps', 'slugs');
    await fixtureRepo(repo, 'web-worker');
    await slipwayIn(repo, cli, ['apps:create', 'slugs']);
    const pushed = await push(repo).done;
    assert.equal(pushed.code, 0, pushed.out);
    const web = () => httpGet(Number(env.SLIPWAY_HTTP_PORT), '/', { host: 'slugs.localhost' });
    assert.equal((await web()).status, 200);

    // What the release stores, straight from the platform's Redis.
    const redis = new Redis({ path: join(dir, 'run', 'redis.sock'), lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const [key] = await redis.keys('ctl:app:*:releases');
      assert.ok(key, 'the app has releases');
      const releases = Object.values(await redis.hgetall(key)).map((v) => JSON.parse(v) as { imageUrl: string | null });
      imageUrl = releases.find((r) => r.imageUrl)?.imageUrl ?? '';
    } finally {
      redis.disconnect();
    }
    const blobOrigin = `http://127.0.0.1:${env.SLIPWAY_BLOB_PORT}`;
    assert.match(imageUrl, new RegExp(`^${blobOrigin}/blobs/[0-9a-f]{64}`));
    // The URL alone (what a log line, an old backup or a former operator keeps) reads nothing.
    const bare = await fetch(imageUrl);
    assert.ok(bare.status === 401 || bare.status === 403, `the stored URL alone read the slug: HTTP ${bare.status}`);
    assert.doesNotMatch(imageUrl, /[?&](sig|exp|token)=/);

    // The agents' credential, kept for joined hosts in a private file, reads blobs and nothing else.
    const authFile = join(dir, 'home', 'agent-fetch-auth');
    assert.equal(statSync(authFile).mode & 0o777, 0o600);
    const [origin, bearer] = readFileSync(authFile, 'utf8').trim().split(' ');
    assert.equal(origin, blobOrigin);
    const withToken = await fetch(imageUrl, { method: 'HEAD', headers: { authorization: `Bearer ${bearer}` } });
    assert.equal(withToken.status, 200);
    assert.equal((await fetch(`${blobOrigin}/blobs`, { headers: { authorization: `Bearer ${bearer}` } })).status, 403, 'the read token lists nothing');
    assert.equal((await fetch(imageUrl, { method: 'DELETE', headers: { authorization: `Bearer ${bearer}` } })).status, 403, 'nor deletes');

    // The deploy fetched the slug through that path; a second process and a one-off too.
    await slipwayIn(repo, cli, ['ps:scale', 'web=2']);
    await until('two web processes up', async () => {
      const ps = JSON.parse(await slipwayIn(repo, cli, ['ps', '--json'])) as { type: string; state: string }[];
      return ps.filter((p) => p.type === 'web' && p.state === 'running').length === 2;
    }, 60_000, 500);
    assert.equal((await web()).status, 200);
    const oneOff = await slipwayIn(repo, cli, ['run', '--no-tty', '--', 'echo one-off-ran-$SLIPWAY_APP']);
    assert.match(oneOff, /one-off-ran-slugs/);

    // The agent itself, asked to import the slug again: with its credential it can.
    const agent = connectAgent({ socketPath: join(dir, 'run', 'agent.sock') });
    assert.ok(await agent.importImageFromUrl(imageUrl, { repo: 'slwt/refetch', tag: 'a' }));
    await agent.removeImage('slwt/refetch:a', true).catch(() => undefined);
    // A URL a tenant named gets no credential, even one naming the blob origin.
    await assert.rejects(agent.importImageFromUrl(imageUrl, { repo: 'slwt/refetch', tag: 'b', untrusted: true }), /HTTP 401/);
  });

  it('the agent sends a credential to exactly its origin: not to another port, not after a redirect, not for a tenant\'s URL', async () => {
    const agent = connectAgent({ socketPath: join(dir, 'run', 'agent.sock') });
    const fail = (url: string, untrusted = false) => assert.rejects(agent.importImageFromUrl(url, { repo: 'slwt/never', tag: 'x', ...(untrusted ? { untrusted } : {}) }));
    // Another loopback port, named in an image URL: no header at all.
    await fail(`http://127.0.0.1:${other.port}/blobs/${'a'.repeat(64)}`);
    assert.equal(other.seen.length, 1);
    assert.equal(other.seen[0]!.authorization, undefined);
    // Its own origin gets its own token; the redirect elsewhere is not followed.
    await fail(`http://127.0.0.1:${trusted.port}/slug.tar`);
    assert.equal(trusted.seen.length, 1);
    assert.equal(trusted.seen[0]!.authorization, 'Bearer recorder-token');
    assert.equal(other.seen.length, 1, 'the redirect was not followed');
    // The same origin in a tenant-named URL: no credential.
    await fail(`http://127.0.0.1:${trusted.port}/slug.tar`, true);
    assert.equal(trusted.seen.length, 2);
    assert.equal(trusted.seen[1]!.authorization, undefined);
    // None of it ever saw the blobstore's token.
    const blobBearer = readFileSync(join(dir, 'home', 'agent-fetch-auth'), 'utf8').trim().split(' ')[1]!;
    assert.ok(![...other.seen, ...trusted.seen].some((h) => String(h.authorization ?? '').includes(blobBearer)));
  });
});
