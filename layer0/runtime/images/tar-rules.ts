// The safety rules every imported tar entry must pass before GNU tar extracts the archive:
// no escapes (absolute paths, `..`, hardlinks out), no writing through a symlink the
// archive made, no device nodes unless trusted. Pure; used by tar-receive.ts.

export interface TarEntryHeader {
  path: string;
  /** node-tar's type names: 'File', 'Directory', 'SymbolicLink', 'Link', 'CharacterDevice', … */
  type: string;
  linkpath?: string;
}

const DEVICE_TYPES = new Set(['CharacterDevice', 'BlockDevice', 'FIFO']);
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

/** Splits a member path into components, dropping `.` and empty ones; null when it contains `..`. */
function components(p: string): string[] | null {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  return parts.includes('..') ? null : parts;
}

/**
 * Stateful checker: feed it every header in archive order. `check` returns null when the entry
 * is fine, else the reason it is refused (the whole archive is then refused).
 */
export class TarEntryChecker {
  /** Member paths (normalised) that are symlinks at this point of the archive. */
  private readonly symlinks = new Set<string>();
  /** Non-directory member paths seen so far: the only valid hardlink targets. */
  private readonly files = new Set<string>();

  constructor(private readonly allowDevices = false) {}

  check(h: TarEntryHeader): string | null {
    const p = h.path;
    if (p.includes('\0')) return `entry ${JSON.stringify(p)}: NUL in path`;
    if (p.startsWith('/')) return `entry ${JSON.stringify(p)}: absolute path`;
    const parts = components(p);
    if (parts === null) return `entry ${JSON.stringify(p)}: ".." path component`;
    if (parts.length === 0) {
      // `./` itself: only a directory may describe the root.
      return h.type === 'Directory' ? null : `entry ${JSON.stringify(p)}: not a directory at the root`;
    }
    const through = this.symlinkPrefix(parts);
    if (through !== null) return `entry ${JSON.stringify(p)}: goes through symlink ${JSON.stringify(through)}`;
    const norm = parts.join('/');

    if (DEVICE_TYPES.has(h.type) && !this.allowDevices) {
      return `entry ${JSON.stringify(p)}: device nodes and fifos are not allowed`;
    }
    if (!FILE_TYPES.has(h.type) && !DEVICE_TYPES.has(h.type)) {
      return `entry ${JSON.stringify(p)}: unsupported entry type ${h.type}`;
    }
    if (h.type === 'Link') {
      const target = h.linkpath ?? '';
      if (target.startsWith('/')) return `hardlink ${JSON.stringify(p)}: absolute target ${JSON.stringify(target)}`;
      const tparts = components(target);
      if (tparts === null || tparts.length === 0) return `hardlink ${JSON.stringify(p)}: target ${JSON.stringify(target)} escapes`;
      const tthrough = this.symlinkPrefix(tparts);
      if (tthrough !== null) return `hardlink ${JSON.stringify(p)}: target goes through symlink ${JSON.stringify(tthrough)}`;
      // GNU tar would fail on a missing target; a directory cannot be hard-linked.
      if (!this.files.has(tparts.join('/'))) return `hardlink ${JSON.stringify(p)}: target ${JSON.stringify(target)} is not an earlier file of the archive`;
    }
    if (h.type === 'Directory' && this.symlinks.has(norm)) {
      // GNU tar would find the existing symlink, stat through it and chmod/chown its target.
      return `entry ${JSON.stringify(p)}: directory over symlink`;
    }
    // A later non-directory replaces the symlink (GNU tar unlinks and recreates with O_EXCL).
    // A hardlink to a symlink is a symlink too (link(2) does not follow the last component).
    const linksToSymlink = h.type === 'Link' && this.symlinks.has(components(h.linkpath ?? '')!.join('/'));
    if (h.type === 'SymbolicLink' || linksToSymlink) this.symlinks.add(norm);
    else this.symlinks.delete(norm);
    if (h.type === 'Directory') this.files.delete(norm);
    else this.files.add(norm);
    return null;
  }

  /** The first proper prefix of `parts` that is a symlink of this archive, else null. */
  private symlinkPrefix(parts: string[]): string | null {
    if (this.symlinks.size === 0) return null;
    let prefix = '';
    for (let i = 0; i < parts.length - 1; i++) {
      prefix = i === 0 ? parts[0] : `${prefix}/${parts[i]}`;
      if (this.symlinks.has(prefix)) return prefix;
    }
    return null;
  }
}

