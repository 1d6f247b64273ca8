// Content-addressed layer directories `<root>/layers/<hex>/` with a `<hex>.complete` marker
// written last: extraction (GNU tar), copies from the machine cache (`cp -al`), removal and the
// start-up clean-up of whatever a killed process left. Used only by the image store.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayError } from '../../common/errors.ts';
import { binary } from '../../common/which.ts';
import { writeFileAtomic } from './metadata.ts';
import { mkdirPrivate } from '../../common/private-state.ts';

const HEX_RE = /^[0-9a-f]{64}$/;

export function digestHex(digest: string): string {
  const hex = digest.startsWith('sha256:') ? digest.slice(7) : digest;
  if (!HEX_RE.test(hex)) throw new SlipwayError('invalid_params', `bad layer digest ${JSON.stringify(digest)}`);
  return hex;
}

/** Runs a command; rejects with its stderr tail on a non-zero exit. */
export function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary(cmd), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

/** A layer directory tree, complete or not, under one root (a store's or the machine cache's). */
export class LayerDirs {
  readonly layersDir: string;
  private readonly inflight = new Map<string, Promise<number>>();

  /** `tmpDir` null = a read-only view (the machine cache, which deploy/build-stack fills). */
  constructor(root: string, private readonly tmpDir: string | null) {
    this.layersDir = join(root, 'layers');
    if (tmpDir === null) return;
    mkdirPrivate(this.layersDir);
    mkdirPrivate(tmpDir);
  }

  private writableTmp(): string {
    if (this.tmpDir === null) throw new Error('read-only layer tree');
    return this.tmpDir;
  }

  dir(digest: string): string {
    return join(this.layersDir, digestHex(digest));
  }

  private marker(digest: string): string {
    return `${this.dir(digest)}.complete`;
  }

  isComplete(digest: string): boolean {
    return existsSync(this.marker(digest)) && existsSync(this.dir(digest));
  }

  /** Bytes recorded in the marker (the uncompressed tar size), or 0. */
  size(digest: string): number {
    try {
      const v = JSON.parse(readFileSync(this.marker(digest), 'utf8')) as { size?: unknown };
      return typeof v.size === 'number' ? v.size : 0;
    } catch {
      return 0;
    }
  }

  /**
   * Makes `<hex>/` complete: reuse it when present, else hard-link copy from `cache` when the cache
   * has it, else extract `tarPath` (when given). Returns the layer size. Concurrent calls for one
   * digest share the work.
   */
  ensure(digest: string, source: { tarPath?: string; size?: number; cache?: LayerDirs }): Promise<number> {
    if (this.isComplete(digest)) return Promise.resolve(this.size(digest));
    let p = this.inflight.get(digest);
    if (!p) {
      p = this.materialise(digest, source).finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, p);
    }
    return p;
  }

  private async materialise(digest: string, source: { tarPath?: string; size?: number; cache?: LayerDirs }): Promise<number> {
    const tmp = join(this.writableTmp(), `layer-${digestHex(digest).slice(0, 12)}-${randomBytes(6).toString('hex')}`);
    let size = source.size ?? 0;
    try {
      if (source.cache?.isComplete(digest)) {
        size = source.cache.size(digest) || size;
        try {
          await run('cp', ['-al', source.cache.dir(digest), tmp]);
        } catch {
          // Another filesystem (EXDEV): a real copy still beats extracting.
          rmSync(tmp, { recursive: true, force: true });
          await run('cp', ['-a', source.cache.dir(digest), tmp]);
        }
      } else if (source.tarPath) {
        mkdirSync(tmp, { mode: 0o755 });
        // xattrs stay off: they are not part of the layer contract, and GNU tar is much faster than node-tar.
        await run('tar', ['-x', '--numeric-owner', '-p', '--same-owner', '-C', tmp, '-f', source.tarPath]);
      } else {
        throw new SlipwayError('image_not_found', `layer ${digest} is neither stored nor cached`);
      }
      rmSync(this.dir(digest), { recursive: true, force: true }); // an incomplete leftover
      renameSync(tmp, this.dir(digest));
      writeFileAtomic(this.marker(digest), `${JSON.stringify({ digest: `sha256:${digestHex(digest)}`, size })}\n`);
      return size;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      if (err instanceof SlipwayError) throw err;
      throw new SlipwayError('runtime_error', `could not unpack layer ${digest}`, { cause: err });
    }
  }

  /** Deletes a layer: marker first (so a crash leaves it incomplete), then the tree, out of line. */
  async remove(digest: string): Promise<void> {
    rmSync(this.marker(digest), { force: true });
    if (!existsSync(this.dir(digest))) return;
    const trash = join(this.writableTmp(), `gc-${randomBytes(6).toString('hex')}`);
    renameSync(this.dir(digest), trash);
    await rm(trash, { recursive: true, force: true });
  }

  /**
   * Start-up clean-up (no import runs yet): empties the temp dir, drops incomplete layers, stray
   * markers, and complete layers no image references.
   */
  cleanup(referenced: Set<string>): void {
    const tmpDir = this.writableTmp();
    rmSync(tmpDir, { recursive: true, force: true });
    mkdirPrivate(tmpDir);
    for (const name of readdirSync(this.layersDir)) {
      const hex = name.replace(/\.complete$/, '');
      const full = join(this.layersDir, name);
      if (!HEX_RE.test(hex)) {
        rmSync(full, { recursive: true, force: true }); // `.tmp-*` of an interrupted marker write
      } else if (name.endsWith('.complete')) {
        if (!existsSync(join(this.layersDir, hex))) rmSync(full, { force: true });
      } else if (!existsSync(`${full}.complete`) || !referenced.has(hex)) {
        rmSync(`${full}.complete`, { force: true });
        rmSync(full, { recursive: true, force: true });
      }
    }
  }
}
