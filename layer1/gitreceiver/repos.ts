// The app repositories: one bare repo per app under `<dir>/<appId>.git` (by the app's stable id,
// so a rename keeps its history), with Slipway's pre-receive hook installed: at creation, and
// again in every repo when the receiver starts.
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { envBytes } from '../../layer0/common/settings.ts';

const run = promisify(execFile);
const HOOK = join(import.meta.dirname, 'hook.mjs');
const ID_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** SLIPWAY_PUSH_MAX_BYTES (default 512 MiB): the largest pack a push may send. */
export function pushMaxBytes(env: NodeJS.ProcessEnv = process.env): number {
  return envBytes(env, 'SLIPWAY_PUSH_MAX_BYTES', 512 * 2 ** 20, { min: 1024 * 1024 });
}

export class Repos {
  constructor(readonly dir: string, private readonly hookSocket: string, readonly maxPushBytes = pushMaxBytes()) {}

  path(appId: string): string {
    if (!ID_RE.test(appId)) throw new Error(`not an app id: ${appId}`);
    return join(this.dir, `${appId}.git`);
  }

  async exists(appId: string): Promise<boolean> {
    return stat(join(this.path(appId), 'HEAD')).then(() => true, () => false);
  }

  /** The bare repo, created (with its hook) when it is missing. */
  async ensure(appId: string): Promise<string> {
    const p = this.path(appId);
    if (await this.exists(appId)) return p;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // --shared=0600: git makes its files 0600 and directories 0700 whatever the umask (app source is private).
    await run('git', ['init', '--quiet', '--bare', '--shared=0600', '--initial-branch=main', p]);
    // Pushes of large apps in one pack; no auto-gc pauses inside a push.
    await run('git', ['-C', p, 'config', 'receive.denyDeletes', 'true']);
    await run('git', ['-C', p, 'config', 'gc.auto', '0']);
    await this.limitPush(p);
    await this.writeHook(p);
    return p;
  }

  /**
   * git-receive-pack refuses a larger pack itself ("fatal: pack exceeds maximum allowed size",
   * shown as `remote:`), however the request is framed (chunked, gzip); set in every repo at start.
   */
  private async limitPush(repo: string): Promise<void> {
    await run('git', ['-C', repo, 'config', 'receive.maxInputSize', String(this.maxPushBytes)]);
  }

  /** (Re)writes the hook of every repo (at start), so a moved install or hook socket still works. */
  async installHooks(): Promise<void> {
    const names = await readdir(this.dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
    for (const name of names) {
      const appId = name.endsWith('.git') ? name.slice(0, -4) : '';
      if (ID_RE.test(appId) && (await this.exists(appId))) {
        await this.writeHook(this.path(appId));
        await this.limitPush(this.path(appId));
      }
    }
  }

  private async writeHook(repo: string): Promise<void> {
    const hook = join(repo, 'hooks', 'pre-receive');
    await writeFile(hook, `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(HOOK)} ${shellQuote(this.hookSocket)}\n`);
    await chmod(hook, 0o700);
  }

  async remove(appId: string): Promise<void> {
    await rm(this.path(appId), { recursive: true, force: true });
  }
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
