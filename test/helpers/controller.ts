// A controller on an ephemeral 127.0.0.1 port over a real test Redis, with its log captured
// (debug level) so tests can grep it, a fresh SLIPWAY_HOME, and small request helpers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { pino } from 'pino';
import { startController, type RunningController, type StartControllerOptions } from '../../layer1/controller/server.ts';
import { startTestRedis, type TestRedis } from './redis.ts';

export interface Res<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface RequestOptions {
  token?: string | null;
  /** Serialised as JSON unless a string or Buffer (sent as is). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Send the body chunked, without Content-Length. */
  chunked?: boolean;
}

export interface TestController {
  readonly port: number;
  readonly url: string;
  readonly home: string;
  readonly adminToken: string;
  readonly redis: TestRedis;
  readonly controller: RunningController;
  /** Every log line written so far (JSON strings). */
  readonly logs: string[];
  request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<Res<T>>;
  /** Creates a user (as admin) and a token for it; grants `grant` on `app` when given. */
  user(name: string, opts?: { app?: string; grant?: 'owner' | 'deploy' | 'view'; tokenRole?: string; tokenApp?: string }): Promise<string>;
  /** Stops the controller and, when this helper started it, the Redis. */
  close(): Promise<void>;
}

export async function startTestController(opts: Partial<Omit<StartControllerOptions, 'log'>> & { redis?: TestRedis } = {}): Promise<TestController> {
  const ownRedis = !opts.redis;
  const redis = opts.redis ?? (await startTestRedis());
  const tag = process.env.SLIPWAY_TEST_PREFIX ?? 'slwt';
  const home = opts.home ?? mkdtempSync(join(tmpdir(), `${tag}-ctl-home-`));
  const logs: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const { redis: _r, ...rest } = opts;
  // Custom domains route unverified here (the tests' names are not in any DNS); the security tests
  // that prove verification turn it on (`router: { verifyDomains: true, dnsResolver }`).
  const router = { verifyDomains: false, ...rest.router };
  const controller = await startController({ redisUrl: redis.url, port: 0, keyPrefix: redis.prefix('ctl'), ...rest, router, home, log });
  if (!controller.adminToken) throw new Error('the test controller did not create an admin token (reused key prefix?)');
  const adminToken = controller.adminToken;
  const port = controller.port;
  const request = <T = any>(method: string, path: string, o: RequestOptions = {}) => send<T>(port, method, path, o);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    home,
    adminToken,
    redis,
    controller,
    logs,
    request,
    async user(name, u = {}) {
      const made = await request('POST', '/v1/users', { token: adminToken, body: { name } });
      if (made.status !== 201) throw new Error(`creating user ${name}: ${made.status} ${made.text}`);
      if (u.app && u.grant) {
        const g = await request('PUT', `/v1/apps/${u.app}/access/${name}`, { token: adminToken, body: { role: u.grant } });
        if (g.status !== 200) throw new Error(`granting ${name}: ${g.status} ${g.text}`);
      }
      const body: Record<string, string> = { user: name, role: u.tokenRole ?? (u.grant ?? 'owner') };
      if (u.tokenApp) body.app = u.tokenApp;
      const t = await request('POST', '/v1/tokens', { token: adminToken, body });
      if (t.status !== 201) throw new Error(`token for ${name}: ${t.status} ${t.text}`);
      return t.body.token as string;
    },
    async close() {
      await controller.close();
      if (!opts.home) rmSync(home, { recursive: true, force: true });
      if (ownRedis) await redis.cleanup();
    },
  };
}

/** One HTTP request to 127.0.0.1 (the raw path is sent as is: no normalisation, unlike fetch). */
export function send<T = any>(port: number, method: string, path: string, o: RequestOptions = {}): Promise<Res<T>> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let payload: Buffer | undefined;
  if (o.body !== undefined) {
    payload = Buffer.isBuffer(o.body) ? o.body : Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body));
    headers['content-type'] ??= 'application/json';
    if (o.chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: any;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, text, headers: res.headers });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', reject);
    if (o.chunked && payload) {
      for (let i = 0; i < payload.length; i += 64 * 1024) req.write(payload.subarray(i, i + 64 * 1024));
      req.end();
    } else req.end(payload);
  });
}
