// The image store of layer0/runtime: `docker import` of tars into content-addressed layers,
// tags, Docker's removal rules, and the overlayfs lowerdir list of an image. The agent and the
// container runtime call it; metadata is `<root>/images.json`, layers `<root>/layers/<hex>/`.
import { rmSync } from 'node:fs';
import { mkdirPrivate } from '../../common/private-state.ts';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SlipwayError } from '../../common/errors.ts';
import { silentLogger, type Logger } from '../../common/logger.ts';
import { ImageConfigSchema, type ImageRecord, type ImportOptions, type RemovedImageItem } from '../types.ts';
import { applyChanges } from './changes.ts';
import { digestHex, LayerDirs } from './layers.ts';
import { computeImageId, loadImages, saveImages } from './metadata.ts';
import { readPasswdFromLayers, resolveExecUser, type ExecUser, type PasswdInfo } from './passwd.ts';
import { fullIdHex, idPrefixHex, normalizeRef, repoName, tryNormalizeRef } from './refs.ts';
import { receiveTar } from './tar-receive.ts';

export interface ImageStoreOptions {
  /** e.g. `$SLIPWAY_HOME/images`. One store per root per machine. */
  root: string;
  /** e.g. `$SLIPWAY_CACHE`: layers pre-extracted there are hard-link copied instead of extracted. */
  cacheRoot?: string;
  logger?: Logger;
  /** Docker image events: `import`, `tag`, `untag`, `delete`. */
  onEvent?: (action: string, id: string, attributes: Record<string, string>) => void;
}

export interface RemoveOptions {
  force?: boolean;
  /** True when a running container uses the image: removal is then refused, even forced. */
  isInUse?: (imageId: string) => boolean;
}

/** A layer the caller vouches for (the stack build): no validation, maybe already extracted. */
export interface TrustedLayer {
  digest: string;
  tarPath?: string;
  size?: number;
}

const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

export class ImageStore {
  readonly root: string;
  private readonly file: string;
  private readonly tmpDir: string;
  private readonly layers: LayerDirs;
  private readonly cache: LayerDirs | null;
  private readonly log: Logger;
  private readonly onEvent: NonNullable<ImageStoreOptions['onEvent']>;
  private readonly images = new Map<string, ImageRecord>();
  /** `name:tag` → image id. */
  private readonly tags = new Map<string, string>();
  /** Layer digests with an import in progress: never garbage-collected meanwhile. */
  private readonly pinned = new Map<string, number>();

  constructor(opts: ImageStoreOptions) {
    this.root = opts.root;
    this.file = join(opts.root, 'images.json');
    this.tmpDir = join(opts.root, 'tmp');
    this.log = opts.logger ?? silentLogger;
    this.onEvent = opts.onEvent ?? (() => {});
    mkdirPrivate(opts.root);
    this.layers = new LayerDirs(opts.root, this.tmpDir);
    this.cache = opts.cacheRoot ? new LayerDirs(opts.cacheRoot, null) : null;
    for (const img of loadImages(this.file)) {
      this.images.set(img.id, img);
      for (const t of img.tags) this.tags.set(t, img.id);
    }
    this.layers.cleanup(new Set([...this.images.values()].map((i) => digestHex(i.layer))));
  }

  /** `docker import`: a plain or gzip tar stream becomes a new image (see ImportOptions). */
  async importTar(src: Readable, opts: ImportOptions = {}): Promise<ImageRecord> {
    try {
      this.prepare(opts); // refuse bad parameters before reading the body
    } catch (err) {
      src.resume();
      throw err;
    }
    const received = await receiveTar(src, this.tmpDir, { allowDevices: opts.allowDevices, maxBytes: opts.maxBytes });
    try {
      return await this.importLayer({ digest: received.digest, tarPath: received.path, size: received.size }, opts);
    } finally {
      rmSync(received.path, { force: true });
    }
  }

  /** Imports a layer whose digest is known (deploy/build-stack's output): cached copy when possible. */
  async importLayer(layer: TrustedLayer, opts: ImportOptions = {}): Promise<ImageRecord> {
    this.prepare(opts);
    const digest = `sha256:${digestHex(layer.digest)}`;
    this.pin(digest, +1);
    try {
      const size = await this.layers.ensure(digest, { tarPath: layer.tarPath, size: layer.size, cache: this.cache ?? undefined });
      // Re-check now that the body is in: the parent may have been removed meanwhile.
      const { reference, parent, config } = this.prepare(opts);
      const created = new Date().toISOString();
      const id = computeImageId({ layer: digest, parent: parent?.id ?? null, config, created });
      const record: ImageRecord = {
        id, parent: parent?.id ?? null, layer: digest, tags: [], created, comment: opts.message ?? '', config, size,
      };
      this.images.set(id, record);
      if (reference) this.moveTag(reference, id);
      this.save();
      this.onEvent('import', id, reference ? { name: reference } : {});
      this.log.info({ id, layer: digest, reference }, 'image imported');
      return structuredClone(record);
    } finally {
      this.pin(digest, -1);
      this.collectLayer(digest);
    }
  }

  list(): ImageRecord[] {
    return [...this.images.values()].sort((a, b) => b.created.localeCompare(a.created)).map((i) => structuredClone(i));
  }

  /** By `name[:tag]`, full id (with or without `sha256:`) or a unique id prefix of ≥ 4 hex. */
  resolve(ref: string): ImageRecord {
    const found = this.lookup(ref);
    if (!found) throw new SlipwayError('image_not_found', `No such image: ${ref}`);
    return structuredClone(found.image);
  }

  tryResolve(ref: string): ImageRecord | null {
    const found = this.lookup(ref);
    return found ? structuredClone(found.image) : null;
  }

  /** `docker tag`: points `newRef` at the image, taking it from any other image. */
  tag(ref: string, newRef: string): void {
    const image = this.mustLookup(ref).image;
    const norm = normalizeRef(newRef);
    this.moveTag(norm, image.id);
    this.save();
    this.onEvent('tag', image.id, { name: norm });
  }

  /** `docker rmi` with Docker's rules; returns what was untagged and deleted. */
  remove(ref: string, opts: RemoveOptions = {}): RemovedImageItem[] {
    const { image, tag } = this.mustLookup(ref);
    const items: RemovedImageItem[] = [];
    if (tag !== null && image.tags.length > 1) {
      this.untag(image, tag, items);
      this.save();
      return items;
    }
    if (tag === null && !opts.force && new Set(image.tags.map(repoName)).size > 1) {
      throw new SlipwayError('conflict', `conflict: unable to delete ${short(image.id)} (must be forced) - image is referenced in multiple repositories`);
    }
    if ([...this.images.values()].some((i) => i.parent === image.id)) {
      throw new SlipwayError('conflict', `conflict: unable to delete ${short(image.id)} (cannot be forced) - image has dependent child images`);
    }
    if (opts.isInUse?.(image.id)) {
      throw new SlipwayError('in_use', `conflict: unable to delete ${short(image.id)} (cannot be forced) - image is being used by running container`);
    }
    for (const t of [...image.tags]) this.untag(image, t, items);
    this.images.delete(image.id);
    this.save();
    items.push({ Deleted: image.id });
    this.onEvent('delete', image.id, {});
    this.collectLayer(image.layer);
    return items;
  }

  /** The image's layer directories, top first, then its parent's: overlayfs' lowerdir order. */
  layerPaths(imageId: string): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    let cur: ImageRecord | undefined = this.mustLookup(imageId).image;
    while (cur && !seen.has(cur.id)) {
      seen.add(cur.id);
      out.push(this.layers.dir(cur.layer));
      if (cur.parent && !this.images.has(cur.parent)) {
        throw new SlipwayError('image_not_found', `No such image: ${cur.parent} (parent of ${short(cur.id)})`);
      }
      cur = cur.parent ? this.images.get(cur.parent) : undefined;
    }
    return out;
  }

  /** Users and groups of the image, from the topmost layer holding etc/passwd and etc/group. */
  readPasswd(imageId: string): PasswdInfo {
    return readPasswdFromLayers(this.layerPaths(imageId));
  }

  /** `''`, `name`, `uid`, `name:group` or `uid:gid` → numeric ids, as runc would resolve them. */
  resolveUser(imageId: string, user: string): ExecUser {
    return resolveExecUser(this.readPasswd(imageId), user);
  }

  // ---------- internals ----------

  private prepare(opts: ImportOptions) {
    const reference = opts.reference ? normalizeRef(opts.reference) : null;
    const parent = opts.parent ? this.mustLookup(opts.parent).image : null;
    const config = applyChanges(parent?.config ?? ImageConfigSchema.parse({}), opts.changes ?? []);
    return { reference, parent, config };
  }

  private lookup(ref: string): { image: ImageRecord; tag: string | null } | null {
    if (typeof ref !== 'string' || ref === '') return null;
    const full = fullIdHex(ref);
    if (full) {
      const image = this.images.get(`sha256:${full}`);
      return image ? { image, tag: null } : null;
    }
    const norm = tryNormalizeRef(ref);
    const tagged = norm ? this.tags.get(norm) : undefined;
    if (norm && tagged) return { image: this.images.get(tagged)!, tag: norm };
    const prefix = idPrefixHex(ref);
    if (!prefix) return null;
    const matches = [...this.images.keys()].filter((id) => id.startsWith(`sha256:${prefix}`));
    return matches.length === 1 ? { image: this.images.get(matches[0])!, tag: null } : null;
  }

  private mustLookup(ref: string): { image: ImageRecord; tag: string | null } {
    const found = this.lookup(ref);
    if (!found) throw new SlipwayError('image_not_found', `No such image: ${ref}`);
    return found;
  }

  private moveTag(ref: string, id: string): void {
    const prev = this.tags.get(ref);
    if (prev === id) return;
    const old = prev ? this.images.get(prev) : undefined;
    if (old) {
      old.tags = old.tags.filter((t) => t !== ref);
      this.onEvent('untag', old.id, { name: ref });
    }
    this.tags.set(ref, id);
    const image = this.images.get(id)!;
    image.tags = [...image.tags, ref].sort();
  }

  private untag(image: ImageRecord, ref: string, items: RemovedImageItem[]): void {
    image.tags = image.tags.filter((t) => t !== ref);
    this.tags.delete(ref);
    items.push({ Untagged: ref });
    this.onEvent('untag', image.id, { name: ref });
  }

  private save(): void {
    saveImages(this.file, this.images.values());
  }

  private pin(digest: string, delta: number): void {
    const n = (this.pinned.get(digest) ?? 0) + delta;
    if (n > 0) this.pinned.set(digest, n);
    else this.pinned.delete(digest);
  }

  /** Deletes a layer no image uses and no import holds; the tree goes in the background. */
  private collectLayer(digest: string): void {
    if (this.pinned.has(digest) || [...this.images.values()].some((i) => i.layer === digest)) return;
    this.layers.remove(digest).catch((err: unknown) => this.log.warn({ err, digest }, 'layer removal failed'));
  }
}
