// A git `BUILDPACK_URL` is cloned on the builder's host (the stack has no git) and bound read-only
// into the build container at /tmp/buildpack-src, which the driver is then told to use
// (buildpacks/README.md). Names, paths and `.` reach the driver unchanged.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SlipwayError } from '../../layer0/common/errors.ts';

const execFileP = promisify(execFile);
export const BUILDPACK_MOUNT = '/tmp/buildpack-src';

/** https://…, http://…, git://…, ssh://…, file://…, git@host:…, or anything ending in .git (with an optional #ref). */
export function isGitUrl(url: string): boolean {
  const base = url.split('#')[0]!;
  return /^(https?|git|ssh|file):\/\//.test(base) || /^[\w.-]+@[\w.-]+:/.test(base) || /\.git\/?$/.test(base);
}

export interface ClonedBuildpack {
  dir: string;
  remove(): Promise<void>;
}

/** `git clone` (then `checkout <ref>` for `url#ref`) into a temp dir; `invalid_params` with git's message on failure. */
export async function cloneBuildpack(url: string, o: { timeoutMs?: number; parent?: string } = {}): Promise<ClonedBuildpack> {
  const [repo, ref] = url.split('#') as [string, string | undefined];
  const parent = await mkdtemp(join(o.parent ?? tmpdir(), 'slipway-buildpack-'));
  const dir = join(parent, 'pack');
  const remove = () => rm(parent, { recursive: true, force: true });
  const git = (args: string[]) => execFileP('git', args, { timeout: o.timeoutMs ?? 120_000, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
  try {
    await git(['clone', '--quiet', ...(ref ? [] : ['--depth', '1']), '--', repo, dir]);
    if (ref) await git(['-C', dir, 'checkout', '--quiet', ref, '--']);
    await rm(join(dir, '.git'), { recursive: true, force: true });
  } catch (err) {
    await remove();
    const msg = String((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n').slice(-2).join(' ');
    throw new SlipwayError('invalid_params', `could not fetch the buildpack ${url}: ${msg}`);
  }
  return { dir, remove };
}
