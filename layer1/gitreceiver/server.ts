// Smart-HTTP git at `/git/<app>.git` (node-git-server runs git-receive-pack / git-upload-pack).
// Every request is authenticated here, before node-git-server sees it (its own hook checks
// only the ref advertisement): HTTP Basic with a token as the password; pushing needs `deploy`
// on the app, fetching `view`; an app the caller may not see is 404. A push's build and rollout
// run inside the repo's pre-receive hook (hook.mjs → hook-server.ts), so the ref moves only
// once the new release serves, and the pusher sees the output as it happens.
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Git } from 'node-git-server';
import type { Logger } from '../../layer0/common/logger.ts';
import { appRole, atLeast, principalOf, type Principal, type Role } from '../controller/auth/roles.ts';
import type { Store } from '../controller/store/index.ts';
import { HookServer, type PushContext } from './hook-server.ts';
import { Repos } from './repos.ts';
import type { PushPipeline } from './types.ts';

export interface GitReceiverOptions {
  store: Store;
  /** Where the bare repos live (`$SLIPWAY_HOME/git`). */
  dir: string;
  /** The hooks' unix socket (`$SLIPWAY_RUN/git-hook.sock`). */
  hookSocket: string;
  pipeline: PushPipeline;
  log: Logger;
  /** The largest pack a push may send (default SLIPWAY_PUSH_MAX_BYTES, 512 MiB). */
  maxPushBytes?: number;
}

const PATH_RE = /^\/git\/([a-z][a-z0-9-]{2,29})\.git(\/[^?]*)(?:\?(.*))?$/;
type Service = 'receive-pack' | 'upload-pack';

export class GitReceiver {
  readonly repos: Repos;
  private readonly git: Git;
  private readonly hooks: HookServer;
  /** git-receive-pack's pid → its push, which the hook (its child) names by its parent pid. */
  private readonly pushes = new Map<number, PushContext>();

  constructor(private readonly o: GitReceiverOptions) {
    this.repos = new Repos(o.dir, o.hookSocket, o.maxPushBytes);
    this.git = new Git((repo?: string) => (repo ? `${o.dir}/${repo}` : o.dir), { autoCreate: false });
    this.hooks = new HookServer({ socketPath: o.hookSocket, pipeline: o.pipeline, log: o.log, pushFor: (pid) => this.pushes.get(pid) ?? null });
    // A branch or tag push: run git-receive-pack; its hook does the rest.
    const accept = (action: { accept(): void; req: IncomingMessage; on(ev: 'service', fn: (ps: ChildProcess) => void): void }) => {
      const ctx = (action.req as IncomingMessage & { slipwayPush?: PushContext }).slipwayPush;
      if (!ctx) return void (action as unknown as { reject(code: number, msg: string): void }).reject(403, 'no push context');
      action.on('service', (ps) => {
        // git may stop reading early (a pack over receive.maxInputSize): the request's bytes then
        // meet a closed pipe, which is git's answer to report, not an error to crash on.
        ps.stdin?.on('error', () => undefined);
        if (ps.pid === undefined) return;
        this.pushes.set(ps.pid, ctx);
        ps.once('exit', () => this.pushes.delete(ps.pid!));
        ctx.process = ps;
      });
      action.accept();
    };
    this.git.on('push', accept as never);
    this.git.on('tag', accept as never);
    this.git.on('fetch', ((f: { accept(): void }) => f.accept()) as never);
  }

  async start(): Promise<void> {
    await this.repos.installHooks();
    await this.hooks.listen();
  }

  async close(): Promise<void> {
    for (const ctx of this.pushes.values()) ctx.abort.abort();
    await this.hooks.close();
  }

  /** Takes the request when it is under `/git/` (answers it fully); false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    if (url !== '/git' && !url.startsWith('/git/')) return false;
    this.serve(req, res).catch((err: unknown) => {
      this.o.log.error({ err, url }, 'git request failed');
      if (!res.headersSent) text(res, 500, 'internal error\n');
      else res.destroy();
    });
    return true;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const m = PATH_RE.exec(req.url ?? '');
    if (!m) return text(res, 404, 'not a Slipway repository: use /git/<app>.git\n');
    const [, name, rest, query = ''] = m as unknown as [string, string, string, string | undefined];
    const service = serviceOf(req.method ?? '', rest, new URLSearchParams(query));
    if (!service) return text(res, 404, 'only the smart HTTP protocol is served here\n');

    const principal = await this.authenticate(req);
    if (!principal) {
      if (req.headers.authorization) this.audit(req, 'auth_failed', null, name, 401);
      res.setHeader('WWW-Authenticate', 'Basic realm="slipway"');
      return text(res, 401, 'authentication required: use a Slipway token as the password (slipway apps:create or git:remote sets it)\n');
    }
    const found = await this.o.store.apps.resolve(name, principal.userId);
    const role = found ? appRole(principal, found.app.id, found.grant) : null;
    if (!found || role === null) return text(res, 404, `no app named ${name}\n`);
    const needed: Role = service === 'receive-pack' ? 'deploy' : 'view';
    if (!atLeast(role, needed)) return text(res, 403, `pushing to ${name} needs the deploy role; this token has ${role}\n`);

    const repo = await this.repos.ensure(found.app.id);
    if (req.method === 'POST' && service === 'receive-pack') {
      const ctx: PushContext = { app: { id: found.app.id, name: found.app.name }, user: { id: principal.userId, name: principal.userName }, repo, abort: new AbortController(), process: null };
      (req as IncomingMessage & { slipwayPush?: PushContext }).slipwayPush = ctx;
      res.once('close', () => this.audit(req, 'git_push', principal, found.app.name, res.writableFinished ? res.statusCode : 499));
      // Ctrl-C on the push: the response closes before it ended. Cancel the build, end git.
      res.once('close', () => {
        if (res.writableFinished) return;
        ctx.abort.abort();
        ctx.process?.kill('SIGTERM');
      });
    }
    req.url = `/${found.app.id}.git${rest}${query ? `?${query}` : ''}`;
    this.git.handle(req, res);
  }

  /** A git push or a refused token in the controller's audit log (L4); git requests have no request id, so one is made. */
  private audit(req: IncomingMessage, event: 'git_push' | 'auth_failed', p: Principal | null, app: string, status: number): void {
    const path = (req.url ?? '').split('?')[0]!;
    this.o.store.audit
      .append({ event, user: p?.userName ?? '', tokenId: p?.tokenId ?? '', method: req.method ?? '', route: '/git/:app.git', path, app, status, requestId: randomUUID() })
      .catch((err: Error) => this.o.log.error({ err: err.message, app }, 'audit append failed'));
  }

  private async authenticate(req: IncomingMessage): Promise<Principal | null> {
    const h = req.headers.authorization ?? '';
    if (!h.startsWith('Basic ')) return null;
    const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const secret = decoded.slice(decoded.indexOf(':') + 1);
    if (!secret) return null;
    const found = await this.o.store.tokens.authenticate(secret);
    return found && principalOf(found);
  }
}

function serviceOf(method: string, rest: string, q: URLSearchParams): Service | null {
  const s = method === 'GET' && rest === '/info/refs' ? q.get('service') : method === 'POST' ? rest.slice(1) : null;
  return s === 'git-receive-pack' ? 'receive-pack' : s === 'git-upload-pack' ? 'upload-pack' : null;
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
