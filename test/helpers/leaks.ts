// Leak check for tests: lists every runc container, mount, netns, link, iptables line and
// top-level cgroup that carries an instance prefix (and no other prefix's objects).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { hasComment, hostHasIpv6, ownedChains, ownedRules, save, TABLES, tokenize } from '../../layer0/network/iptables.ts';
import { ownedBy } from '../../layer0/network/names.ts';

const execFileP = promisify(execFile);

export interface LeakOptions {
  /** runc state roots to list (`runc --root DIR list`); default: /run/runc when it exists. */
  runcRoots?: string[];
}

async function cmd(file: string, args: string[]): Promise<string> {
  return (await execFileP(file, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
}

async function runcLeaks(prefix: string, roots: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const root of roots.filter((r) => existsSync(r))) {
    const list = JSON.parse((await cmd('runc', ['--root', root, 'list', '--format', 'json'])) || 'null') as { id: string }[] | null;
    for (const c of list ?? []) if (ownedBy(prefix, c.id)) out.push(`runc ${root} ${c.id}`);
  }
  return out;
}

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

async function mountLeaks(prefix: string): Promise<string[]> {
  const text = await readFile('/proc/mounts', 'utf8');
  const owned = (p: string) => unescape(p).split('/').some((part) => ownedBy(prefix, part));
  return text.split('\n').filter((l) => {
    const [source = '', target = ''] = l.split(' ');
    return owned(source) || owned(target);
  }).map((l) => `mount ${l}`);
}

async function netnsLeaks(prefix: string): Promise<string[]> {
  const names = (await cmd('ip', ['netns', 'list'])).split('\n').map((l) => l.trim().split(/\s+/)[0]!);
  return names.filter((n) => n !== '' && ownedBy(prefix, n)).map((n) => `netns ${n}`);
}

async function linkLeaks(prefix: string): Promise<string[]> {
  // `ip -o link`: "4: name@if3: <FLAGS> ..."
  const names = (await cmd('ip', ['-o', 'link', 'show'])).split('\n').map((l) => (l.split(': ')[1] ?? '').split('@')[0]!);
  return names.filter((n) => n !== '' && ownedBy(prefix, n)).map((n) => `link ${n}`);
}

async function iptablesLeaks(prefix: string): Promise<string[]> {
  const out: string[] = [];
  // iptables (filter, nat, raw), ip6tables and ebtables: every table the network writes to.
  for (const { family, table } of TABLES) {
    if (family === 'ip6' && !hostHasIpv6()) continue;
    const text = await save(table, family);
    const tool = { ip4: 'iptables', ip6: 'ip6tables', eb: 'ebtables' }[family];
    for (const c of ownedChains(text, prefix)) out.push(`${tool} -t ${table} chain ${c}`);
    for (const r of ownedRules(text, table, prefix, family)) out.push(`${tool} -t ${table} ${r.line}`);
    // Anything else mentioning our comment (a rule in a chain ownedRules would not list).
    for (const l of text.split('\n')) {
      if (!l.startsWith('-A ') && hasComment(tokenize(l), prefix)) out.push(`${tool} -t ${table} ${l}`);
    }
  }
  return out;
}

async function cgroupLeaks(prefix: string): Promise<string[]> {
  const root = '/sys/fs/cgroup';
  const out: string[] = [];
  const seen = new Set<string>();
  for (const controller of await readdir(root).catch(() => [] as string[])) {
    const dir = await realpath(`${root}/${controller}`).catch(() => null);
    if (dir === null || seen.has(dir) || !(await stat(dir)).isDirectory()) continue;
    seen.add(dir);
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory() && ownedBy(prefix, e.name)) out.push(`cgroup ${dir}/${e.name}`);
    }
  }
  return out;
}

/** Everything on the machine that carries `prefix`; empty when an instance cleaned up after itself. */
export async function findLeaks(prefix: string, opts: LeakOptions = {}): Promise<string[]> {
  const roots = opts.runcRoots ?? ['/run/runc'];
  const parts = await Promise.all([
    runcLeaks(prefix, roots), mountLeaks(prefix), netnsLeaks(prefix), linkLeaks(prefix),
    iptablesLeaks(prefix), cgroupLeaks(prefix),
  ]);
  return [...new Set(parts.flat())];
}
