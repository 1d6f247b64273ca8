// The app repositories: one bare repo per app under `<dir>/<appId>.git` (by the app's stable id,
// so a rename keeps its history), with Slipway's pre-receive hook installed.
import { execFile } from 'node:child_process';
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const HOOK = join(import.meta.dirname, 'hook.mjs');
const ID_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export class Repos {
  constructor(readonly dir: string, private readonly hookSocket: string) {}

  path(appId: string): string {
    if (!ID_RE.test(appId)) throw new Error(`not an app id: ${appId}`);
    return join(this.dir, `${appId}.git`);
  }

  async exists(appId: string): Promise<boolean> {
    return stat(join(this.path(appId), 'HEAD')).then(() => true, () => false);
  }

  /** Creates the bare repo if it is missing, and (re)writes its hook, so a moved install or socket still works. */
  async ensure(appId: string): Promise<string> {
    const p = this.path(appId);
    if (!(await this.exists(appId))) {
      await mkdir(this.dir, { recursive: true });
      await run('git', ['init', '--quiet', '--bare', '--initial-branch=main', p]);
      // Pushes of large apps in one pack; no auto-gc pauses inside a push.
      await run('git', ['-C', p, 'config', 'receive.denyDeletes', 'true']);
      await run('git', ['-C', p, 'config', 'gc.auto', '0']);
    }
    const hook = join(p, 'hooks', 'pre-receive');
    await writeFile(hook, `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(HOOK)} ${shellQuote(this.hookSocket)}\n`);
    await chmod(hook, 0o755);
    return p;
  }

  async remove(appId: string): Promise<void> {
    await rm(this.path(appId), { recursive: true, force: true });
  }
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
