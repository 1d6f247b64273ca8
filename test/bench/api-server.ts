// The processes the api-latency bench measures, each in its own process so the load generator
// shares nothing with them. `api`: a test Redis + the controller (as `slipway up` runs it:
// info-level log, here to a file in its temp home), an app `bench-app`, a user with the view
// role on it and a token for that user. `bare`: a bare Node http server answering one JSON body
// (argv[3]) with 200. Both print one JSON line {port, token?, pid} on stdout, and exit (cleaning
// up) on SIGTERM, SIGINT or when stdin closes (the parent died).
// Run: node --import tsx test/bench/api-server.ts api|bare [body]
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BENCH_APP = 'bench-app';

function onStop(stop: () => Promise<void>): void {
  let stopping = false;
  const go = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', go);
  process.on('SIGINT', go);
  process.stdin.on('end', go).on('close', go).resume();
  // A dead parent can also show as EPIPE on stdout; a crash must not leave Redis behind either.
  process.stdout.on('error', go);
  process.on('uncaughtException', (err) => {
    console.error(err);
    go();
  });
}

async function api(): Promise<void> {
  // Imported here so that the bare server loads nothing of the controller.
  const { pino } = await import('pino');
  const { startController } = await import('../../layer1/controller/server.ts');
  const { send } = await import('../helpers/controller.ts');
  const { startTestRedis } = await import('../helpers/redis.ts');
  const tag = process.env.SLIPWAY_TEST_PREFIX ?? 'slwt';
  const home = mkdtempSync(join(tmpdir(), `${tag}-bench-api-`));
  const redis = await startTestRedis();
  const dest = pino.destination({ dest: join(home, 'controller.log'), sync: false });
  const log = pino({ level: process.env.SLIPWAY_LOG_LEVEL ?? 'info' }, dest);
  const controller = await startController({ redisUrl: redis.url, port: 0, keyPrefix: redis.prefix('ctl'), home, log });
  onStop(async () => {
    await controller.close();
    dest.flushSync();
    await redis.cleanup();
    rmSync(home, { recursive: true, force: true });
  });
  const admin = controller.adminToken!;
  const call = async (method: string, path: string, body: unknown, want: number) => {
    const r = await send(controller.port, method, path, { token: admin, body });
    if (r.status !== want) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    return r.body;
  };
  await call('POST', '/v1/apps', { name: BENCH_APP }, 201);
  await call('POST', '/v1/users', { name: 'bench-viewer' }, 201);
  await call('PUT', `/v1/apps/${BENCH_APP}/access/bench-viewer`, { role: 'view' }, 200);
  const { token } = await call('POST', '/v1/tokens', { user: 'bench-viewer', role: 'view' }, 201);
  process.stdout.write(JSON.stringify({ port: controller.port, token, app: BENCH_APP, pid: process.pid, redisPid: redis.server.pid }) + '\n');
}

async function bare(body: string): Promise<void> {
  const payload = Buffer.from(body);
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length });
    res.end(payload);
  });
  server.keepAliveTimeout = 5000; // as the controller's
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  onStop(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port, pid: process.pid }) + '\n');
}

const mode = process.argv[2];
if (mode === 'api') await api();
else if (mode === 'bare') await bare(process.argv[3] ?? '{}');
else {
  console.error('usage: api-server.ts api | bare <json body>');
  process.exit(2);
}
