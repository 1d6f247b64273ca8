// The other end of the repos' pre-receive hook: a small HTTP server on a unix socket (mode 600)
// that takes a hook's ref updates, checks them, runs the push through the pipeline one push at a
// time per app, and streams the output back; the last line, `\0exit N`, is the hook's exit code.
import type { ChildProcess } from 'node:child_process';
import { execFile, spawn } from 'node:child_process';
import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Logger } from '../../layer0/common/logger.ts';
import type { PushPipeline } from './types.ts';

/** A push in flight, as the receiver registered it when git-receive-pack started. */
export interface PushContext {
  app: { id: string; name: string };
  user: { id: string; name: string };
  /** The app's bare repo (the hook's own path is not trusted for it). */
  repo: string;
  /** Aborted when the pusher goes away. */
  abort: AbortController;
  process: ChildProcess | null;
}

interface HookRequest {
  pid: number;
  updates: { old: string; sha: string; ref: string }[];
  env: Record<string, string>;
}

const ZERO = /^0{40}$/;
const SHA = /^[0-9a-f]{40}$/;
const DEPLOY_REFS = new Set(['refs/heads/main', 'refs/heads/master']);
const MAX_BODY = 256 * 1024;

export class HookServer {
  private server: Server | null = null;
  /** Per app: the push that runs now (others wait for it). */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly o: { socketPath: string; pipeline: PushPipeline; log: Logger; pushFor(pid: number): PushContext | null }) {}

  async listen(): Promise<void> {
    await rm(this.o.socketPath, { force: true });
    this.server = createServer((req, res) => void this.onRequest(req, res));
    // A build can run for 15 minutes: no request or keep-alive timeouts on this socket.
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.o.socketPath, resolve);
    });
    await chmod(this.o.socketPath, 0o600);
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    await rm(this.o.socketPath, { force: true });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    const say = (line: string) => {
      if (!res.writableEnded && !res.destroyed) res.write(`${line.replace(/\n+$/, '')}\n`);
    };
    const finish = (code: number) => {
      if (!res.writableEnded && !res.destroyed) res.end(`\0exit ${code}\n`);
    };
    let hook: HookRequest;
    try {
      hook = parse(await body(req));
    } catch (err) {
      say(`!     ${(err as Error).message}`);
      return finish(1);
    }
    const ctx = this.o.pushFor(hook.pid);
    if (!ctx) {
      say('!     This push is not known to the receiver; push again.');
      return finish(1);
    }
    const refusal = refuse(hook.updates);
    if (refusal) {
      for (const l of refusal) say(l);
      return finish(1);
    }
    const { sha, ref, old } = hook.updates[0]!;
    // The hook's connection ends early when git-receive-pack died (the pusher left).
    res.once('close', () => {
      if (!res.writableFinished) ctx.abort.abort();
    });

    const before = this.running.get(ctx.app.id);
    if (before) say(`-----> Another push to ${ctx.app.name} is building; waiting for it (Ctrl-C gives up)…`);
    const mine = (async () => {
      if (before) {
        await before.catch(() => undefined);
        // git checks the ref's old value when it updates it: a push that waited while another one
        // moved the branch would build and roll out, then fail to update the ref. Say so first.
        const now = await currentRef(ctx.repo, ref);
        if (now !== (ZERO.test(old) ? null : old)) throw new Error(`${ref.replace('refs/heads/', '')} moved to ${now?.slice(0, 7) ?? 'nothing'} while this push waited; nothing was deployed.\nFetch, merge and push again.`);
      }
      if (ctx.abort.signal.aborted) throw new Error('the push was cancelled');
      return this.o.pipeline.deploy({
        app: ctx.app, ref, sha, previous: ZERO.test(old) ? null : old, user: ctx.user, say, signal: ctx.abort.signal,
        archive: () => archive(ctx.repo, sha, quarantine(hook.env, ctx.repo)),
      });
    })();
    // The next push of the app starts once this one's git-receive-pack has ended, i.e. once git
    // has updated the ref (or not): only then can it tell whether the branch moved.
    const tail = mine.catch(() => undefined).then(() => exited(ctx.process));
    this.running.set(ctx.app.id, tail);
    try {
      const { summary } = await mine;
      say(summary);
      finish(0);
    } catch (err) {
      const msg = ctx.abort.signal.aborted ? 'the push was cancelled; nothing was deployed' : (err as Error).message;
      for (const l of msg.split('\n')) say(`!     ${l}`);
      this.o.log.info({ app: ctx.app.name, sha, err: msg }, 'push refused');
      finish(1);
    } finally {
      if (this.running.get(ctx.app.id) === tail) this.running.delete(ctx.app.id);
    }
  }
}

/** Why these updates cannot deploy, as lines for the pusher; null when they can. */
function refuse(updates: HookRequest['updates']): string[] | null {
  const other = updates.filter((u) => !DEPLOY_REFS.has(u.ref));
  if (other.length) {
    return [
      `!     Slipway deploys pushes to main or master only; refused: ${other.map((u) => u.ref.replace(/^refs\/heads\//, '')).join(', ')}.`,
      '!     To deploy another branch: git push slipway <branch>:main',
    ];
  }
  if (updates.length !== 1) return ['!     Push main or master, not both at once.'];
  if (ZERO.test(updates[0]!.sha)) return ['!     Deleting the deployed branch is not supported.'];
  return null;
}

function parse(raw: string): HookRequest {
  const h = JSON.parse(raw) as HookRequest;
  if (!Number.isInteger(h.pid) || !Array.isArray(h.updates) || h.updates.length === 0) throw new Error('a malformed hook request');
  for (const u of h.updates) if (!SHA.test(u.sha) || !SHA.test(u.old) || typeof u.ref !== 'string') throw new Error('a malformed ref update');
  return h;
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      s += c;
      if (s.length > MAX_BODY) req.destroy(new Error('hook request too large'));
    });
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

function exited(ps: ChildProcess | null): Promise<void> {
  if (!ps || ps.exitCode !== null || ps.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => ps.once('exit', () => resolve()));
}

function currentRef(repo: string, ref: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('git', ['--git-dir', repo, 'rev-parse', '--verify', '-q', ref], (err, out) => resolve(err ? null : out.trim()));
  });
}

/** Only git's quarantine variables, and only paths inside the app's own repo. */
function quarantine(env: Record<string, string>, repo: string): Record<string, string> {
  const keys = new Set(['GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_QUARANTINE_PATH']);
  return Object.fromEntries(Object.entries(env ?? {}).filter(([k, v]) => keys.has(k) && typeof v === 'string' && v.split(':').every((p) => p.startsWith(`${repo}/`) && !p.includes('..'))));
}

/** `git archive` of the pushed commit; the quarantine env lets it read objects not yet accepted. */
function archive(gitDir: string, sha: string, env: Record<string, string>): Readable {
  const ps = spawn('git', ['archive', '--format=tar', sha], { cwd: gitDir, env: { ...process.env, GIT_DIR: gitDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  ps.stderr.on('data', (c: Buffer) => (err += c.toString()));
  ps.on('close', (code) => {
    if (code !== 0) ps.stdout.destroy(new Error(`git archive failed: ${err.trim() || `exit ${code}`}`));
  });
  return ps.stdout;
}
