// Test fixtures: a tiny busybox root filesystem tar (used by every runtime and agent test) and
// the malicious tars of the image-store security tests, written byte by byte with node-tar's
// Header so owners, modes and mtimes are exact and the digest is stable across runs.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

export interface TarEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  data?: Buffer | string;
  linkpath?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  devmaj?: number;
  devmin?: number;
}

const MTIME = new Date('2024-01-01T00:00:00Z');

/** An uncompressed tar of `entries`, in order, with no sanitising whatsoever. */
export function tarBuffer(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'File';
    const data = type === 'File' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    const h = new Header({
      path: e.path,
      type,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : type === 'SymbolicLink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: data.length,
      mtime: MTIME,
      linkpath: e.linkpath ?? '',
      uname: '',
      gname: '',
      devmaj: e.devmaj ?? 0,
      devmin: e.devmin ?? 0,
    });
    h.encode();
    if (h.needPax) throw new Error(`fixture path too long for ustar: ${e.path}`);
    blocks.push(h.block!, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export function gzipTar(tar: Buffer): Buffer {
  return gzipSync(tar);
}

export const BUSYBOX_APPLETS = [
  'sh', 'echo', 'cat', 'sleep', 'true', 'false', 'ls', 'nc', 'httpd', 'hostname', 'id', 'ps',
  'mkdir', 'wget', 'dd', 'head', 'yes',
  // not asked for by the brief, but cheap and handy in tests
  'env', 'kill', 'rm', 'touch', 'grep', 'pwd', 'uname', 'whoami', 'test', 'printf', 'stat',
  'seq', 'tail', 'wc', 'tr', 'sed', 'ln', 'chmod', 'cp', 'mv', 'date', 'top', 'tar',
] as const;

/** Debian's busybox-static: a static binary that runs in an empty rootfs. */
export const BUSYBOX_PATH = '/bin/busybox';

export function busyboxRootfsEntries(): TarEntry[] {
  if (!existsSync(BUSYBOX_PATH)) throw new Error(`${BUSYBOX_PATH} missing: apt-get install busybox-static`);
  const dirs = ['bin', 'etc', 'dev', 'proc', 'sys', 'root', 'usr', 'usr/bin', 'var', 'run'];
  return [
    { path: './', type: 'Directory' },
    ...dirs.map((d): TarEntry => ({ path: `${d}/`, type: 'Directory', mode: d === 'root' ? 0o700 : 0o755 })),
    { path: 'tmp/', type: 'Directory', mode: 0o1777 },
    { path: 'app/', type: 'Directory', uid: 10001, gid: 10001 },
    { path: 'bin/busybox', data: readFileSync(BUSYBOX_PATH), mode: 0o755 },
    ...BUSYBOX_APPLETS.map((a): TarEntry => ({ path: `bin/${a}`, type: 'SymbolicLink', linkpath: 'busybox' })),
    {
      path: 'etc/passwd',
      data: 'root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001:app:/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    },
    { path: 'etc/group', data: 'root:x:0:\napp:x:10001:\nnogroup:x:65534:\n' },
    { path: 'etc/hostname', data: 'busybox\n' },
    { path: 'etc/hosts', data: '127.0.0.1\tlocalhost\n::1\tlocalhost\n' },
    { path: 'etc/resolv.conf', data: '' },
  ];
}

/**
 * Writes `<dir>/busybox-rootfs.tar` (≈2 MB, same bytes every time) and returns its path: static
 * /bin/busybox, the applets as symlinks, /etc/passwd with root and app (10001), /etc/group, /tmp.
 */
export async function busyboxRootfsTar(dir: string): Promise<string> {
  const out = join(dir, 'busybox-rootfs.tar');
  if (existsSync(out)) return out;
  writeFileSync(`${out}.tmp`, tarBuffer(busyboxRootfsEntries()));
  renameSync(`${out}.tmp`, out);
  return out;
}

export const EVIL_KINDS = [
  'dotdot', // a `..` component
  'absolute', // an absolute member path
  'symlink-write-through', // symlink `etc -> /etc`, then a file `etc/evil`
  'symlink-dir-write-through', // symlink `x -> ../..`, then a directory `x/y/`
  'hardlink-escape', // hardlink to `../../etc/shadow`
  'hardlink-absolute', // hardlink to `/etc/shadow`
  'hardlink-through-symlink', // symlink `h -> /etc`, then a hardlink to `h/shadow`
  'hardlink-to-symlink-write-through', // symlink `s -> /etc`, hardlink `t` to `s`, file `t/evil`
  'device', // a character device node
  'block-device',
  'fifo',
] as const;
export type EvilKind = (typeof EVIL_KINDS)[number];

/** A small tar that the image store must refuse (devices only without `allowDevices`). */
export function evilTar(kind: EvilKind): Buffer {
  const ok: TarEntry[] = [{ path: './', type: 'Directory' }, { path: 'ok.txt', data: 'fine\n' }];
  const bad: Record<EvilKind, TarEntry[]> = {
    dotdot: [{ path: 'a/../../evil.txt', data: 'x' }],
    absolute: [{ path: '/tmp/slipway-evil.txt', data: 'x' }],
    'symlink-write-through': [
      { path: 'etc', type: 'SymbolicLink', linkpath: '/etc' },
      { path: 'etc/slipway-evil.txt', data: 'x' },
    ],
    'symlink-dir-write-through': [
      { path: 'x', type: 'SymbolicLink', linkpath: '../..' },
      { path: 'x/y/', type: 'Directory' },
    ],
    'hardlink-escape': [{ path: 'shadow', type: 'Link', linkpath: '../../etc/shadow' }],
    'hardlink-absolute': [{ path: 'shadow', type: 'Link', linkpath: '/etc/shadow' }],
    'hardlink-through-symlink': [
      { path: 'h', type: 'SymbolicLink', linkpath: '/etc' },
      { path: 'shadow', type: 'Link', linkpath: 'h/shadow' },
    ],
    'hardlink-to-symlink-write-through': [
      { path: 's', type: 'SymbolicLink', linkpath: '/etc' },
      { path: 't', type: 'Link', linkpath: 's' },
      { path: 't/slipway-evil.txt', data: 'x' },
    ],
    device: [{ path: 'null', type: 'CharacterDevice', mode: 0o666, devmaj: 1, devmin: 3 }],
    'block-device': [{ path: 'sda', type: 'BlockDevice', mode: 0o660, devmaj: 8, devmin: 0 }],
    fifo: [{ path: 'pipe', type: 'FIFO', mode: 0o644 }],
  };
  return tarBuffer([...ok, ...bad[kind]]);
}
