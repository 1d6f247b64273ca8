// The abuse suite's platform: `slipway up --detach` in a temp home (as test/e2e/git-push.test.ts
// runs it), two tenants made through /v1 the way an admin would (a user, an owner token, an app, a
// deploy token and a git remote each), raw access to the router, and — for the test side only,
// never handed to the tenants — the agent's view of where each app's web container lives.
// `close()` runs `slipway down` and returns the leaks found (none expected).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectAgent } from '../../../layer0/agent/client.ts';
import { findLeaks } from '../../helpers/leaks.ts';
import { testPrefix } from '../../helpers/runtime.ts';
import { freePort } from '../../helpers/wait.ts';
import { BIN, fixtureRepo, git } from '../../helpers/git-push.ts';

const execFileP = promisify(execFile);

export interface ApiAnswer {
  status: number;
  /** Parsed JSON when the answer was JSON, else the text. */
  body: unknown;
  text: string;
}

export interface Tenant {
  user: string;
  app: string;
  appId: string;
  /** The user's owner token for all of their apps (what `slipway login` would hold). */
  owner: string;
  /** The app's deploy token (the one in the git remote, handed to CI). */
  deploy: string;
  repo: string;
}

export interface WebContainer {
  id: string;
  ip: string;
  gateway: string;
  /** The port the web process listens on inside its container. */
  port: number;
  /** The host port the agent published it on (null when it publishes none). */
  hostPort: number | null;
}

export interface AbusePlatform {
  dir: string;
  env: NodeJS.ProcessEnv;
  ports: { api: number; http: number; https: number; routerAdmin: number; blob: number };
  adminToken: string;
  api(token: string, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<ApiAnswer>;
  /** A user with an owner token, an app of theirs from `fixture`, its deploy token and a git repo whose `slipway` remote uses it. */
  tenant(user: string, app: string, fixture: string): Promise<Tenant>;
  webContainer(app: string): Promise<WebContainer>;
  /** GET through the router with `Host: <host>`; JSON parsed when it is. */
  viaRouter(host: string, path: string, timeoutMs?: number): Promise<ApiAnswer>;
  /** Raw bytes to the router; resolves with what came back before it closed or `timeoutMs`. */
  rawRouter(bytes: string, timeoutMs?: number): Promise<string>;
  close(): Promise<string[]>;
}

async function answer(res: Response): Promise<ApiAnswer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, body, text };
}

export async function startAbusePlatform(): Promise<AbusePlatform> {
  const dir = mkdtempSync(join(tmpdir(), 'slwt-abuse-'));
  const ports = { api: await freePort(), http: await freePort(), https: await freePort(), routerAdmin: await freePort(), blob: await freePort() };
  const env: NodeJS.ProcessEnv = {
    ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: testPrefix('a'),
    SLIPWAY_API_PORT: String(ports.api), SLIPWAY_HTTP_PORT: String(ports.http), SLIPWAY_HTTPS_PORT: String(ports.https),
    SLIPWAY_ROUTER_ADMIN_PORT: String(ports.routerAdmin), SLIPWAY_BLOB_PORT: String(ports.blob),
    SLIPWAY_BUILD_MEMORY: '512M',
  };
  delete env.SLIPWAY_URL_ALLOW; // the safe default: no private address allowed for tenants' URLs
  const slipway = (args: string[], timeout: number) => execFileP(process.execPath, [BIN, ...args], { env, timeout });
  const down = () => slipway(['down'], 70_000).catch(() => undefined);
  try {
    await slipway(['up', '--detach'], 300_000);
  } catch (err) {
    // The platform's own log says why; it goes with the temp dir, so it rides in the error.
    let tail = '';
    try {
      tail = readFileSync(join(dir, 'home', 'logs', 'slipway.log'), 'utf8').split('\n').slice(-40).join('\n');
    } catch { /* no log */ }
    await down();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`slipway up --detach failed: ${(err as Error).message}\n--- slipway.log (last 40 lines) ---\n${tail}`);
  }
  const adminToken = readFileSync(join(dir, 'home', 'admin-token'), 'utf8').trim();
  const base = `http://127.0.0.1:${ports.api}`;

  async function api(token: string, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<ApiAnswer> {
    const res = await fetch(`${base}/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return answer(res);
  }

  async function must(what: string, p: Promise<ApiAnswer>, status: number[]): Promise<ApiAnswer> {
    const a = await p;
    if (!status.includes(a.status)) throw new Error(`${what}: HTTP ${a.status} ${a.text.slice(0, 300)}`);
    return a;
  }

  async function tenant(user: string, app: string, fixture: string): Promise<Tenant> {
    await must(`create user ${user}`, api(adminToken, 'POST', '/users', { name: user }), [201]);
    const owner = ((await must(`owner token of ${user}`, api(adminToken, 'POST', '/tokens', { user, role: 'owner', description: 'abuse suite' }), [201])).body as { token: string }).token;
    const created = (await must(`create app ${app}`, api(owner, 'POST', '/apps', { name: app }), [201])).body as { id: string };
    const deploy = ((await must(`deploy token of ${app}`, api(owner, 'POST', '/tokens', { role: 'deploy', app, description: 'CI' }), [201])).body as { token: string }).token;
    const repo = join(dir, 'repos', app);
    await fixtureRepo(repo, fixture);
    await git(repo, 'remote', 'add', 'slipway', `http://git:${deploy}@127.0.0.1:${ports.api}/git/${app}.git`);
    return { user, app, appId: created.id, owner, deploy, repo };
  }

  const agent = connectAgent({ socketPath: join(dir, 'run', 'agent.sock') });
  async function webContainer(app: string): Promise<WebContainer> {
    const list = await agent.listContainers({ labels: [`slipway.app=${app}`, 'slipway.type=web'] });
    const running = list.filter((c) => c.State === 'running');
    if (!running.length) throw new Error(`no running web container of ${app}`);
    const info = await agent.inspectContainer(running[0]!.Id);
    const ns = info.NetworkSettings as unknown as { IPAddress: string; Gateway: string; Ports: Record<string, { HostPort: string }[] | null> };
    const [key, bound] = Object.entries(ns.Ports ?? {})[0] ?? [];
    const port = Number(/^PORT=(\d+)$/m.exec((info.Config.Env ?? []).join('\n'))?.[1] ?? String(key ?? '5000').split('/')[0]);
    return { id: info.Id, ip: ns.IPAddress, gateway: ns.Gateway, port, hostPort: bound?.[0] ? Number(bound[0].HostPort) : null };
  }

  function rawRouter(bytes: string, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve) => {
      let got = '';
      const s = connect({ host: '127.0.0.1', port: ports.http });
      const timer = setTimeout(() => s.destroy(), timeoutMs);
      s.on('connect', () => s.write(bytes, 'latin1'));
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('close', () => {
        clearTimeout(timer);
        resolve(got);
      });
      s.on('error', () => undefined);
    });
  }

  function viaRouter(host: string, path: string, timeoutMs = 30_000): Promise<ApiAnswer> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: ports.http, path, headers: { host }, timeout: timeoutMs, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch { /* not JSON */ }
          resolve({ status: res.statusCode ?? 0, body, text });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  return {
    dir, env, ports, adminToken, api, tenant, webContainer, viaRouter, rawRouter,
    async close() {
      await down();
      const leaks = await findLeaks(env.SLIPWAY_PREFIX!, { runcRoots: [join(dir, 'run', 'runc')] });
      rmSync(dir, { recursive: true, force: true });
      return leaks;
    },
  };
}
