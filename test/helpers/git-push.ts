// `git push` against a platform of `slipway up`: a fixture app copied into a fresh git repo, a
// push with its output lines timed as they arrive (to see `remote:` lines stream), the slipway
// CLI run in a directory, and a keep-alive load generator through the router.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
export const APPS = resolve(import.meta.dirname, '../fixtures/apps');
export const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const ID = ['-c', 'user.name=Slipway Test', '-c', 'user.email=test@example.com'];

export async function git(cwd: string, ...args: string[]): Promise<string> {
  return (await execFileP('git', [...ID, ...args], { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })).stdout.trim();
}

/** A git repo at `dir` holding a copy of fixture app `fixture` (committed on main); resolves with the commit. */
export async function fixtureRepo(dir: string, fixture: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  cpSync(join(APPS, fixture), dir, { recursive: true });
  await git(dir, 'init', '-q', '-b', 'main');
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', '-m', `${fixture}`);
  return git(dir, 'rev-parse', 'HEAD');
}

/** Replaces the repo's tree with fixture `fixture` (plus `extra` files) in a new commit; resolves with it. */
export async function commitFixture(dir: string, fixture: string, extra: Record<string, string> = {}): Promise<string> {
  await git(dir, 'rm', '-rq', '--cached', '.');
  await execFileP('find', [dir, '-mindepth', '1', '-maxdepth', '1', '!', '-name', '.git', '-exec', 'rm', '-rf', '{}', '+']);
  cpSync(join(APPS, fixture), dir, { recursive: true });
  for (const [f, body] of Object.entries(extra)) writeFileSync(join(dir, f), body);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', '--allow-empty', '-m', `${fixture}`);
  return git(dir, 'rev-parse', 'HEAD');
}

export interface PushResult {
  code: number;
  out: string;
  /** Each output line and when it arrived (ms since the push started). */
  lines: { at: number; text: string }[];
  ms: number;
}

/** `git push slipway main` in `dir`; `onLine` sees each line as it arrives. `child` is there to Ctrl-C it. */
export function push(dir: string, o: { onLine?: (line: string) => void; args?: string[] } = {}): { child: ChildProcess; done: Promise<PushResult> } {
  const t0 = Date.now();
  // Its own process group, so a Ctrl-C reaches git and its remote helper together, as a terminal's does.
  const child = spawn('git', ['push', ...(o.args ?? []), 'slipway', 'main'], { cwd: dir, detached: true, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const r: PushResult = { code: -1, out: '', lines: [], ms: 0 };
  let partial = '';
  const onData = (d: Buffer) => {
    r.out += d;
    const parts = (partial + d.toString()).split(/\r?\n|\r/);
    partial = parts.pop()!;
    for (const text of parts) {
      r.lines.push({ at: Date.now() - t0, text });
      o.onLine?.(text);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const done = new Promise<PushResult>((res) => child.on('close', (code) => {
    if (partial) r.lines.push({ at: Date.now() - t0, text: partial });
    r.code = code ?? -1;
    r.ms = Date.now() - t0;
    res(r);
  }));
  return { child, done };
}

/** The slipway CLI in `cwd` with `env` (SLIPWAY_URL, SLIPWAY_TOKEN…); rejects on a non-zero exit. */
export async function slipwayIn(cwd: string, env: NodeJS.ProcessEnv, args: string[], timeout = 120_000): Promise<string> {
  return (await execFileP(process.execPath, [BIN, ...args], { cwd, env, timeout })).stdout;
}

export interface LoadResult {
  ok: number;
  failed: { at: number; why: string }[];
  /** Each answer's `version=<sha>` (or its first 40 characters) and when it came. */
  seen: { at: number; version: string }[];
}

/** `clients` keep-alive loops of `GET /` through the router with `Host: host` until `stop()`. */
export function loadGenerator(port: number, host: string, clients = 4): { stop(): Promise<LoadResult> } {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const r: LoadResult = { ok: 0, failed: [], seen: [] };
  let running = true;
  const one = () => new Promise<void>((res) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent, timeout: 10_000 }, (resp) => {
      let body = '';
      resp.setEncoding('utf8');
      resp.on('data', (c: string) => (body += c));
      resp.on('end', () => {
        if (resp.statusCode === 200) {
          r.ok++;
          r.seen.push({ at: Date.now(), version: /version=([0-9a-f]+)/.exec(body)?.[1] ?? body.slice(0, 40) });
        } else r.failed.push({ at: Date.now(), why: `HTTP ${resp.statusCode}: ${body.slice(0, 200)}` });
        res();
      });
      resp.on('error', (err) => {
        r.failed.push({ at: Date.now(), why: err.message });
        res();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => {
      r.failed.push({ at: Date.now(), why: err.message });
      res();
    });
    req.end();
  });
  const loops = Array.from({ length: clients }, async () => {
    while (running) await one();
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return r;
    },
  };
}
