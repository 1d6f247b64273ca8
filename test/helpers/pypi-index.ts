// A PEP 503 "simple" package index for tests, which never reach PyPI: tiny pure-Python wheels
// written by hand (zip + METADATA/WHEEL/RECORD) and served by `python3 -m http.server` from a
// network namespace of the test's own, joined to the host by a veth pair on a /30 of 198.18.0.0/15
// (RFC 2544's benchmarking range, unused on this machine). A build container reaches it the way it
// reaches the internet: bridge → host routing → the agent's MASQUERADE; no firewall rule is added.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { until } from './wait.ts';

const execFileP = promisify(execFile);

export interface WheelSpec {
  /** Distribution name as published (`slwt-greet`); the import name is it with `_`. */
  name: string;
  version: string;
  /** The module's source (`<import name>/__init__.py`). */
  code: string;
  requires?: string[];
}

/** PEP 503 normalized name. */
export const normalize = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

const WHEEL_SCRIPT = String.raw`
import base64, hashlib, json, sys, zipfile
spec = json.loads(sys.argv[1]); out = sys.argv[2]
mod = spec["name"].replace("-", "_"); ver = spec["version"]
dist = f"{mod}-{ver}.dist-info"
files = {
  f"{mod}/__init__.py": spec["code"],
  f"{dist}/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (spec["name"], ver, "".join("Requires-Dist: %s\n" % r for r in spec.get("requires", []))),
  f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: slipway-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
def digest(b): return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()
record = "".join(f"{p},{digest(c.encode())},{len(c.encode())}\n" for p, c in files.items()) + f"{dist}/RECORD,,\n"
path = f"{out}/{mod}-{ver}-py3-none-any.whl"
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
  for p, c in files.items(): z.writestr(p, c)
  z.writestr(f"{dist}/RECORD", record)
print(path)
`;

/** Writes the wheels and the simple index under `root` (files/, simple/); returns each wheel's sha256. */
export function writeIndex(root: string, wheels: WheelSpec[]): Map<string, { file: string; sha256: string }> {
  const files = join(root, 'files');
  mkdirSync(files, { recursive: true });
  const out = new Map<string, { file: string; sha256: string }>();
  const links: string[] = [];
  for (const w of wheels) {
    const path = execFileSync('python3', ['-c', WHEEL_SCRIPT, JSON.stringify(w), files]).toString().trim();
    const file = path.slice(files.length + 1);
    const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
    const n = normalize(w.name);
    mkdirSync(join(root, 'simple', n), { recursive: true });
    writeFileSync(join(root, 'simple', n, 'index.html'), `<!DOCTYPE html><html><body><a href="../../files/${file}#sha256=${sha256}">${file}</a></body></html>\n`);
    links.push(`<a href="${n}/">${n}</a>`);
    out.set(n, { file, sha256 });
  }
  writeFileSync(join(root, 'simple', 'index.html'), `<!DOCTYPE html><html><body>${links.join('\n')}</body></html>\n`);
  return out;
}

export interface NetnsIndex {
  /** `http://198.18.x.y:port/simple/` */
  url: string;
  /** `198.18.x.y:port` */
  host: string;
  /** Requests the server logged (paths), to prove the build used it. */
  requests(): string[];
  stop(): Promise<void>;
}

async function ip(...args: string[]): Promise<string> {
  return (await execFileP('ip', args)).stdout;
}

/** A free /30 in 198.18.0.0/15 that no route on the host covers. */
async function freeSlash30(): Promise<string> {
  const routes = await ip('-4', 'route', 'show', 'table', 'all');
  for (let i = 0; i < 50; i++) {
    const net = `198.${18 + randomInt(2)}.${randomInt(256)}.${randomInt(64) * 4}`;
    const three = net.split('.').slice(0, 3).join('.');
    if (!routes.includes(`${three}.`) && !/198\.1[89]\.0\.0\/15/.test(routes)) return net;
  }
  throw new Error('no free /30 in 198.18.0.0/15');
}

/**
 * Serves `root` over HTTP from a new netns `<prefix>pyi` at the first address of a /30; the host
 * end of the veth (`<prefix>pyh`) holds the second. Everything goes in stop().
 */
export async function serveIndexFromNetns(prefix: string, root: string): Promise<NetnsIndex> {
  const ns = `${prefix}pyi`;
  const hostIf = `${prefix}pyh`;
  const nsIf = `${prefix}pyn`;
  const net = await freeSlash30();
  const [a, b, c, d] = net.split('.').map(Number) as [number, number, number, number];
  const server = `${a}.${b}.${c}.${d + 1}`;
  const gateway = `${a}.${b}.${c}.${d + 2}`;
  const port = 8000 + randomInt(1000);
  let child: ChildProcess | null = null;
  const log: string[] = [];
  const stop = async () => {
    if (child?.pid && child.exitCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch { /* gone */ }
      await until('the index server exits', () => child!.exitCode !== null || child!.signalCode !== null, 5000).catch(() => undefined);
    }
    await ip('link', 'del', hostIf).catch(() => undefined);
    await ip('netns', 'del', ns).catch(() => undefined);
  };
  try {
    await ip('netns', 'add', ns);
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    await ip('link', 'set', nsIf, 'netns', ns);
    await ip('addr', 'add', `${gateway}/30`, 'dev', hostIf);
    await ip('link', 'set', hostIf, 'up');
    await ip('-n', ns, 'addr', 'add', `${server}/30`, 'dev', nsIf);
    await ip('-n', ns, 'link', 'set', nsIf, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('-n', ns, 'route', 'add', 'default', 'via', gateway);
    child = spawn('ip', ['netns', 'exec', ns, 'python3', '-m', 'http.server', String(port), '--bind', server, '--directory', root], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) {
        const m = /"GET (\S+) HTTP/.exec(l);
        if (m) log.push(m[1]!);
      }
    });
    await until('the index answers', () => execFileP('ip', ['netns', 'exec', ns, 'python3', '-c', `import urllib.request; urllib.request.urlopen("http://${server}:${port}/simple/", timeout=2)`]).then(() => true, () => false), 15_000, 300);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://${server}:${port}/simple/`, host: `${server}:${port}`, requests: () => [...log], stop };
}
