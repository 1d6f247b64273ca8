// A Python app with three dependencies from a package index, pushed with `git push slipway main`
// to a platform of `slipway up --detach` (issue 12): the test builds the wheels itself and serves a
// PEP 503 index from a network namespace of its own (test/helpers/pypi-index.ts), which the build
// container reaches the way it reaches the internet (the agent's NAT); the app names it with the
// config var PIP_INDEX_URL. The push says what it chose (Python version and why, the file, the
// index host), the app answers through the router, a second push restores the venv from the build
// cache, and a push asking for a Python the stack lacks fails naming the versions there are, the
// previous release still serving. A pyproject.toml project (its own in-tree build backend, so the
// index needs no setuptools) is installed with `pip install .`, its dependency from the index.
// Never reaches PyPI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BIN, commitFixture, fixtureRepo, git, push, slipwayIn } from '../helpers/git-push.ts';
import { httpGet } from '../helpers/http.ts';
import { findLeaks } from '../helpers/leaks.ts';
import { serveIndexFromNetns, writeIndex, type NetnsIndex } from '../helpers/pypi-index.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { freePort } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'slwt-pyapps-'));
const env: NodeJS.ProcessEnv = {
  ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: testPrefix('p'),
  SLIPWAY_API_PORT: String(await freePort()), SLIPWAY_HTTP_PORT: String(await freePort()), SLIPWAY_HTTPS_PORT: String(await freePort()),
  SLIPWAY_ROUTER_ADMIN_PORT: String(await freePort()), SLIPWAY_BLOB_PORT: String(await freePort()),
};
const indexPrefix = testPrefix('q');
const routerPort = Number(env.SLIPWAY_HTTP_PORT);
const web = (app: string, path = '/') => httpGet(routerPort, path, { host: `${app}.localhost` });
const up = (args: string[], timeout = 180_000) => execFileP(process.execPath, [BIN, ...args], { env, timeout });
let cli: NodeJS.ProcessEnv;
let index: NetnsIndex | undefined;
const sw = (cwd: string, ...args: string[]) => slipwayIn(cwd, cli, args);

before(async () => {
  writeIndex(join(dir, 'index'), [
    { name: 'slwt-greet', version: '1.0', code: 'def greet(who):\n    return f"hello {who}"\n' },
    { name: 'slwt-stamp', version: '2.0', code: 'def stamp():\n    return "stamp-2.0"\n' },
    { name: 'slwt-shout', version: '1.0', code: 'def shout(s):\n    return s.upper() + "!"\n', requires: ['slwt-stamp>=2'] },
  ]);
  index = await serveIndexFromNetns(indexPrefix, join(dir, 'index'));
  const r = await up(['up', '--detach']);
  assert.match(r.stdout, /slipway is up/);
  cli = { ...process.env, SLIPWAY_URL: `http://127.0.0.1:${env.SLIPWAY_API_PORT}`, SLIPWAY_TOKEN: readFileSync(join(dir, 'home', 'admin-token'), 'utf8').trim() };
});

after(async () => {
  await up(['down'], 70_000).catch(() => undefined);
  await index?.stop();
  const leaks = [
    ...await findLeaks(env.SLIPWAY_PREFIX!, { runcRoots: [join(dir, 'run', 'runc')] }),
    ...await findLeaks(indexPrefix),
  ];
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leaks, [], 'nothing left: platform, netns, veth');
});

describe('python apps with git push', { timeout: 900_000 }, () => {
  it('python-index: three dependencies from the index named by PIP_INDEX_URL; the push says what it chose; a warm second push; a Python the stack lacks fails and the old release serves', async () => {
    const repo = join(dir, 'apps', 'pyidx');
    let sha = await fixtureRepo(repo, 'python-index');
    await sw(repo, 'apps:create', 'pyidx');
    await sw(repo, 'config:set', `PIP_INDEX_URL=${index!.url}`);

    const first = await push(repo).done;
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /remote: -----> Python app detected/);
    assert.match(first.out, /remote:        Python 3\.11\.\d+ \(from \.python-version: 3\.11\)/);
    assert.match(first.out, new RegExp(`remote:        From requirements\\.txt; packages from index ${index!.host.replace(/\./g, '\\.')} \\(PIP_INDEX_URL\\)`));
    assert.match(first.out, /Successfully installed slwt-greet-1\.0 slwt-shout-1\.0 slwt-stamp-2\.0/);
    const body = (await web('pyidx')).body;
    assert.match(body, new RegExp(`^python-index ok: hello index LOUD! stamp-2\\.0 python=3\\.11\\.\\d+ version=${sha}\\n$`));
    for (const p of ['/simple/slwt-greet/', '/simple/slwt-shout/', '/simple/slwt-stamp/']) assert.ok(index!.requests().includes(p), `the build asked the index for ${p}: ${index!.requests().join(' ')}`);

    // Warm: same requirements, another commit: the venv comes from the build cache.
    sha = await commitFixture(repo, 'python-index', { 'NOTES.txt': 'a second push\n' });
    const asked = index!.requests().length;
    const second = await push(repo).done;
    assert.equal(second.code, 0, second.out);
    assert.match(second.out, /restored from the build cache \(requirements\.txt unchanged\)/);
    assert.equal(index!.requests().length, asked, 'a warm push does not ask the index again');
    assert.match((await web('pyidx')).body, new RegExp(`version=${sha}\\n$`));

    // A Python the stack lacks: the push fails saying which versions exist; v(previous) still serves.
    const serving = (await web('pyidx')).body;
    await commitFixture(repo, 'python-index', { '.python-version': '3.12\n' });
    const bad = await push(repo).done;
    assert.notEqual(bad.code, 0, bad.out);
    assert.match(bad.out, /\.python-version asks for Python 3\.12, which this stack does not have\. Versions here: 3\.11\.\d+/);
    assert.equal((await web('pyidx')).body, serving, 'the previous release keeps serving');
  });

  it('a pyproject.toml project is installed with pip install ., its dependency from the index', async () => {
    const repo = join(dir, 'apps', 'pyproj');
    const files: Record<string, string> = {
      'pyproject.toml': '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["_build"]\n\n[project]\nname = "pyproj"\nversion = "0.1"\ndependencies = ["slwt-greet==1.0"]\n',
      // A PEP 517 backend of a dozen lines: a wheel holding the package, with its dependency.
      '_build/backend.py': [
        'import base64, hashlib, zipfile',
        'def get_requires_for_build_wheel(config_settings=None): return []',
        'def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):',
        '    name = "pyproj-0.1-py3-none-any.whl"; di = "pyproj-0.1.dist-info"',
        '    files = {"pyproj/__init__.py": open("pyproj/__init__.py").read(),',
        '             di + "/METADATA": "Metadata-Version: 2.1\\nName: pyproj\\nVersion: 0.1\\nRequires-Dist: slwt-greet==1.0\\n",',
        '             di + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}',
        '    h = lambda b: "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()',
        '    record = "".join(f"{p},{h(c.encode())},{len(c.encode())}\\n" for p, c in files.items()) + di + "/RECORD,,\\n"',
        '    with zipfile.ZipFile(f"{wheel_directory}/{name}", "w") as z:',
        '        for p, c in files.items(): z.writestr(p, c)',
        '        z.writestr(di + "/RECORD", record)',
        '    return name',
        '',
      ].join('\n'),
      'pyproj/__init__.py': 'from slwt_greet import greet\nMESSAGE = greet("pyproject")\n',
      'app.py': [
        'import os, sys',
        'from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer',
        'sys.path = [p for p in sys.path if p not in ("", "/app")]  # the installed package, not the checkout',
        'import pyproj',
        'class H(BaseHTTPRequestHandler):',
        '    def do_GET(self):',
        '        b = f"{pyproj.MESSAGE} from {pyproj.__file__}\\n".encode()',
        '        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)',
        'ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()',
        '',
      ].join('\n'),
      'Procfile': 'web: python3 app.py\n',
    };
    for (const [f, body] of Object.entries(files)) {
      mkdirSync(join(repo, f, '..'), { recursive: true });
      writeFileSync(join(repo, f), body);
    }
    await git(repo, 'init', '-q', '-b', 'main');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-q', '-m', 'pyproj');
    await sw(repo, 'apps:create', 'pyproj');
    await sw(repo, 'config:set', `PIP_INDEX_URL=${index!.url}`);
    const r = await push(repo).done;
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Installing the project with pip \(pip install \.\)/);
    assert.match(r.out, /From pyproject\.toml; packages from index 198\.1[89]\.\d+\.\d+:\d+ \(PIP_INDEX_URL\)/);
    assert.match(r.out, /Successfully installed pyproj-0\.1 slwt-greet-1\.0/);
    assert.match((await web('pyproj')).body, /^hello pyproject from \/app\/\.venv\/lib\/python3\.11\/site-packages\/pyproj\/__init__\.py\n$/);
  });
});
