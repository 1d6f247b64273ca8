// A git `BUILDPACK_URL` is fetched by the builder and bound read-only into the build container at
// /tmp/buildpack-src, which the driver is then told to use (buildpacks/README.md). Names and paths
// reach the driver unchanged: they name directories inside the build container, never the host's.
//
// The URL is the tenant's, so the fetch is fenced (issue 13, C1): only https:// (http:// only to
// hosts the operator allows in SLIPWAY_URL_ALLOW), checked by the shared URL policy and pinned to
// the address that was checked (no DNS rebinding, no redirects); the ref matches a strict pattern
// and follows --end-of-options; git runs with no system or user config, no credential helper or
// prompt, every other protocol (file, ext, ssh…) disabled, as uid nobody when the builder is
// root, depth 1, a per-file and a total size cap and a time cap. git's stderr never reaches the
// pusher: a fixed message and a reason picked from a short list do.
//
// Why on the host and not in the build container: the stack has no git (issue 12 keeps the run
// image slim, and the build image may lack it too). The fence above is what makes the host safe:
// nobody cannot read $SLIPWAY_HOME (0700), and no local protocol is enabled.
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { chown, lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlipwayError } from '../../layer0/common/errors.ts';
import { addressAllowed, parsePolicyUrl, urlPolicy, type UrlPolicy } from '../../layer0/common/url-policy.ts';

export const BUILDPACK_MOUNT = '/tmp/buildpack-src';
const NOBODY = 65534;
const MIB = 2 ** 20;

/**
 * Whether a BUILDPACK_URL names something to fetch (anything with a scheme, `ext::`, `user@host:`
 * or a `.git` ending) rather than a built-in name or a path in the build container. Everything
 * that is remote goes through the URL policy, so `file://`, `ext::` or a host path ending in
 * `.git` are refused there rather than passed anywhere.
 */
export function isRemoteBuildpack(value: string): boolean {
  const base = value.split('#')[0]!;
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(base) || base.includes('::') || /^[^/\s]+@[^/\s]+:/.test(base) || /\.git\/?$/.test(base);
}

/** Branch, tag or commit names git accepts, minus everything that could read as an option or a range. */
const REF = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;
export function validRef(ref: string): boolean {
  return REF.test(ref) && !ref.includes('..') && !ref.includes('//') && !/(\/|\.|\.lock)$/.test(ref) && !ref.includes('/.');
}

export interface BuildpackSource {
  /** The URL to fetch, without `#ref` and without credentials. */
  url: URL;
  ref: string | null;
  /** The address the host was checked at; git is pinned to it (http.curloptResolve). */
  address: string;
  port: number;
}

function refuse(message: string): SlipwayError {
  return new SlipwayError('unprocessable', message);
}

/** The URL with any user:password removed, for messages. */
export function displayUrl(raw: string): string {
  return raw.replace(/\/\/[^/@]*@/, '//***@').replace(/[\x00-\x1f\x7f]/g, '?').slice(0, 300);
}

/**
 * Checks a remote BUILDPACK_URL against the policy: https:// anywhere public, http:// only to a host
 * or address the operator allows, a valid ref, no credentials in the URL. Throws a 422 saying why.
 */
export async function checkBuildpackUrl(raw: string, policy: UrlPolicy = urlPolicy(['https', 'http'])): Promise<BuildpackSource> {
  const hash = raw.indexOf('#');
  const base = hash < 0 ? raw : raw.slice(0, hash);
  const ref = hash < 0 ? null : raw.slice(hash + 1);
  if (ref !== null && !validRef(ref)) {
    throw refuse('BUILDPACK_URL has a ref (after #) that is not a plain branch, tag or commit name (letters, digits, ".", "_", "-", "/")');
  }
  if (!/^https?:\/\//i.test(base)) throw refuse('BUILDPACK_URL must be an https:// git URL (other schemes, scp-style addresses and paths on the host are not fetched)');
  const url = parsePolicyUrl(base, policy, 'BUILDPACK_URL');
  if (url.username || url.password) throw refuse('BUILDPACK_URL must not carry credentials: only public repositories can be used');
  if (url.search) throw refuse('BUILDPACK_URL must not have a query string');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const trusted = policy.allowHosts.has(host);
  let addrs: { address: string; family: number }[];
  try {
    addrs = await lookup(host, { all: true });
  } catch {
    throw refuse(`BUILDPACK_URL: the host ${host} does not resolve`);
  }
  if (addrs.length === 0 || (!trusted && addrs.some((a) => !addressAllowed(a.address, policy)))) {
    throw refuse('BUILDPACK_URL points at a loopback, link-local or private address, which tenants may not reach');
  }
  if (url.protocol === 'http:') {
    const allowedByOperator = trusted || addrs.every((a) => policy.allow.check(a.address, a.family === 6 ? 'ipv6' : 'ipv4'));
    if (!allowedByOperator) throw refuse('BUILDPACK_URL must use https:// (http:// only to hosts the operator allows)');
  }
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  return { url, ref, address: addrs[0]!.address, port };
}

export interface ClonedBuildpack {
  dir: string;
  remove(): Promise<void>;
}

export interface CloneOptions {
  timeoutMs?: number;
  /** Cap on the fetched tree (objects and checkout), in bytes. */
  maxBytes?: number;
  parent?: string;
  policy?: UrlPolicy;
  signal?: AbortSignal;
}

/** What the fetch may take: 60 s, 100 MiB. */
export const CLONE_LIMITS = { timeoutMs: 60_000, maxBytes: 100 * MIB };

/**
 * Fetches `url#ref` (depth 1) into a temp dir and checks it out without its `.git`. Throws
 * `unprocessable` when the policy refuses the URL, `buildpack_unavailable`-worthy
 * `invalid_params` with a short reason when the fetch fails.
 */
export async function cloneBuildpack(raw: string, o: CloneOptions = {}): Promise<ClonedBuildpack> {
  const src = await checkBuildpackUrl(raw, o.policy);
  const timeoutMs = o.timeoutMs ?? CLONE_LIMITS.timeoutMs;
  const maxBytes = o.maxBytes ?? CLONE_LIMITS.maxBytes;
  const parent = await mkdtemp(join(o.parent ?? tmpdir(), 'slipway-buildpack-'));
  const dir = join(parent, 'pack');
  const remove = () => rm(parent, { recursive: true, force: true });
  const asRoot = process.getuid?.() === 0;
  try {
    await mkdir(dir);
    if (asRoot) {
      await chown(parent, NOBODY, NOBODY);
      await chown(dir, NOBODY, NOBODY);
    }
    const host = src.url.hostname.replace(/^\[(.*)\]$/, '$1');
    const pinned = src.address.includes(':') ? `[${src.address}]` : src.address;
    const protocols = src.url.protocol === 'http:' ? 'https:http' : 'https';
    const config = [
      'protocol.allow=never', 'protocol.https.allow=always', ...(protocols.includes('http:') ? ['protocol.http.allow=always'] : []),
      'protocol.file.allow=never', 'protocol.ext.allow=never', 'credential.helper=', 'core.askPass=',
      'http.followRedirects=false', `http.curloptResolve=${host}:${src.port}:${pinned}`, 'core.hooksPath=/dev/null',
      'core.fsmonitor=false', 'transfer.fsckObjects=true', 'fetch.recurseSubmodules=false', 'submodule.recurse=false',
      'http.lowSpeedLimit=1024', `http.lowSpeedTime=${Math.max(5, Math.round(timeoutMs / 3000))}`, 'advice.detachedHead=false',
    ].flatMap((c) => ['-c', c]);
    const env = {
      PATH: '/usr/local/bin:/usr/bin:/bin', HOME: parent, LANG: 'C', LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '/bin/false', SSH_ASKPASS: '/bin/false', GIT_ALLOW_PROTOCOL: protocols, GIT_PROTOCOL_FROM_USER: '0',
    };
    const limits = { deadline: Date.now() + timeoutMs, timeoutMs, maxBytes, dir, signal: o.signal };
    const url = src.url.href;
    await runGit(asRoot, ['init', '--quiet', '--template=', dir], env, limits);
    await runGit(asRoot, ['-C', dir, ...config, 'fetch', '--quiet', '--depth=1', '--no-tags', '--no-recurse-submodules', '--end-of-options', url, src.ref ?? 'HEAD'], env, limits);
    await runGit(asRoot, ['-C', dir, ...config, 'checkout', '--quiet', '--detach', 'FETCH_HEAD'], env, limits);
    await rm(join(dir, '.git'), { recursive: true, force: true });
    if ((await treeBytes(dir, maxBytes)) > maxBytes) throw new FetchFailure(`it is larger than ${Math.round(maxBytes / MIB)} MiB`);
  } catch (err) {
    await remove();
    const why = err instanceof FetchFailure ? err.message : 'it could not be fetched';
    throw new SlipwayError('invalid_params', `could not fetch the buildpack ${displayUrl(raw)}: ${why}`);
  }
  return { dir, remove };
}

class FetchFailure extends Error {}

interface GitLimits {
  deadline: number;
  timeoutMs: number;
  maxBytes: number;
  dir: string;
  signal?: AbortSignal;
}

/** git (as nobody with a per-file size cap when we are root) in its own process group, killed at the deadline or over the size cap. */
function runGit(asRoot: boolean, args: string[], env: Record<string, string>, l: GitLimits): Promise<void> {
  const cmd = asRoot
    ? ['prlimit', `--fsize=${l.maxBytes}`, '--', 'setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--', 'git', ...args]
    : ['git', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let verdict: string | null = null;
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 65536) stderr += d.toString();
    });
    const kill = (why: string) => {
      verdict ??= why;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch { /* already gone */ }
    };
    const timer = setTimeout(() => kill(`it took longer than ${Math.max(1, Math.round(l.timeoutMs / 1000))} s`), Math.max(1, l.deadline - Date.now()));
    const sizeCheck = setInterval(() => {
      void treeBytes(l.dir, l.maxBytes).then((n) => {
        if (n > l.maxBytes) kill(`it is larger than ${Math.round(l.maxBytes / MIB)} MiB`);
      });
    }, 1000);
    const onAbort = () => kill('the build was cancelled');
    l.signal?.addEventListener('abort', onAbort);
    if (l.signal?.aborted) onAbort();
    child.on('error', (err) => {
      verdict ??= `git could not be started (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      clearInterval(sizeCheck);
      l.signal?.removeEventListener('abort', onAbort);
      if (code === 0 && !verdict) return resolve();
      if (!verdict && Date.now() >= l.deadline) verdict = `it took longer than ${Math.max(1, Math.round(l.timeoutMs / 1000))} s`;
      if (!verdict && sig === 'SIGXFSZ') verdict = `it is larger than ${Math.round(l.maxBytes / MIB)} MiB`;
      reject(new FetchFailure(verdict ?? gitReason(stderr, code)));
    });
  });
}

/** A short, fixed reason for a git failure: never git's own text, which may quote files or the server. */
export function gitReason(stderr: string, code: number | null): string {
  const s = stderr.toLowerCase();
  if (/could not resolve host/.test(s)) return 'its host name does not resolve';
  if (/couldn't find remote ref|not our ref|unadvertised object|no such ref/.test(s)) return 'that ref does not exist in the repository';
  if (/repository .*not found|returned error: 404|http 404/.test(s)) return 'there is no repository at that URL';
  if (/authentication failed|could not read username|could not read password|returned error: 40[13]|terminal prompts disabled/.test(s)) return 'the repository needs credentials (only public repositories can be used)';
  if (/redirect/.test(s)) return 'the server answered with a redirect, which is not followed';
  if (/ssl|certificate|tls/.test(s)) return 'the TLS connection failed (certificate problem)';
  if (/failed to connect|connection refused|timed out|couldn't connect|network is unreachable/.test(s)) return 'the server could not be reached';
  if (/file size limit|exceeds|too large|signal 25\b/.test(s)) return 'it is too large';
  if (/not a git repository|invalid|bad pack|fsck|corrupt/.test(s)) return 'the server did not send a valid git repository';
  return `git failed (exit code ${code ?? 'killed'})`;
}

/** Bytes under `dir` (not following links), stopping early once past `cap`. */
async function treeBytes(dir: string, cap: number): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length && total <= cap) {
    const d = stack.pop()!;
    const names = await readdir(d).catch(() => [] as string[]);
    for (const n of names) {
      const p = join(d, n);
      const st = await lstat(p).catch(() => null);
      if (!st) continue;
      total += st.isDirectory() ? 0 : st.size;
      if (st.isDirectory()) stack.push(p);
    }
  }
  return total;
}
