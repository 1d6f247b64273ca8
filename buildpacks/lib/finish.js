// The build driver's bookkeeping, in the stack's Node (CommonJS, no dependencies): reads the
// buildpacks' release YAML and the Procfile, merges process types (Procfile wins), writes
// release config_vars as defaults into .profile.d/00_config_vars.sh, and writes result.json.
// Called only by buildpacks/bin/build, which then appends slugBytes:
//   node finish.js BUILD_DIR RESULT_OUT RELEASE_YML... -- NAME URL [NAME URL]...
'use strict';
const fs = require('fs');
const path = require('path');

const PROCFILE_LINE = /^([A-Za-z0-9_-]+):\s*(.+)$/;

/** The subset of YAML that bin/release prints: top-level keys, each a scalar, `{}`/`[]`, or a one-level map. */
function parseReleaseYaml(text) {
  const out = {};
  let current = null;
  for (const raw of text.replace(/\r/g, '').split('\n')) {
    if (!raw.trim() || raw.trim().startsWith('#') || raw.trim() === '---') continue;
    const top = /^([A-Za-z0-9_]+):\s*(.*)$/.exec(raw);
    if (top) {
      const value = top[2].trim();
      if (value === '' ) { out[top[1]] = {}; current = out[top[1]]; }
      else if (value === '{}' || value === '[]') { out[top[1]] = {}; current = null; }
      else { out[top[1]] = unquote(value); current = null; }
      continue;
    }
    const nested = /^\s+("[^"]*"|'[^']*'|[^:]+?):\s*(.*)$/.exec(raw);
    if (nested && current) current[unquote(nested[1].trim())] = unquote(nested[2].trim());
    else if (/^\s+-/.test(raw)) continue; // addons: a list we do not use
    else if (current === null && /^---\s*\{\}\s*$/.test(raw)) continue;
  }
  return out;
}

function unquote(v) {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return JSON.parse(v);
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1).replace(/''/g, "'");
  return v;
}

/** Heroku's Procfile grammar: `type: command`, `#` comments, CRLF stripped, the first of a type wins. */
function parseProcfile(text) {
  const types = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const m = PROCFILE_LINE.exec(line);
    if (!m) {
      console.log(`       Warning: ignoring a Procfile line that is not 'type: command': ${line.trim()}`);
      continue;
    }
    if (m[1] in types) {
      console.log(`       Warning: Procfile declares '${m[1]}' more than once; the first one is used`);
      continue;
    }
    types[m[1]] = m[2].trim();
  }
  return types;
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

function prepare(buildDir, resultOut, releaseFiles, pairs) {
  const buildpacks = [];
  for (let i = 0; i + 1 < pairs.length; i += 2) buildpacks.push({ name: pairs[i], url: pairs[i + 1] });
  const defaults = {};
  const configVars = {};
  for (const file of releaseFiles) {
    const release = parseReleaseYaml(fs.readFileSync(file, 'utf8'));
    // Several buildpacks: a later one's types and vars override an earlier one's.
    if (release.default_process_types && typeof release.default_process_types === 'object') Object.assign(defaults, release.default_process_types);
    if (release.config_vars && typeof release.config_vars === 'object') Object.assign(configVars, release.config_vars);
  }
  const procfilePath = path.join(buildDir, 'Procfile');
  const declared = fs.existsSync(procfilePath) ? parseProcfile(fs.readFileSync(procfilePath, 'utf8')) : {};
  const processTypes = { ...defaults, ...declared };

  console.log('-----> Discovering process types');
  const fromProcfile = Object.keys(declared);
  const fromDefaults = Object.keys(defaults).filter((t) => !(t in declared));
  if (fromProcfile.length) console.log(`       Procfile declares types     -> ${fromProcfile.join(', ')}`);
  if (fromDefaults.length) console.log(`       Default types for buildpack -> ${fromDefaults.join(', ')}`);
  if (!Object.keys(processTypes).length) console.log('       No process types: add a Procfile with a line such as `web: node server.js`');
  else if (!('web' in processTypes)) console.log('       No web process: the app will get no HTTP traffic (add `web: <command>` to the Procfile to serve)');

  const keys = Object.keys(configVars).filter((k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k));
  if (keys.length) {
    const dir = path.join(buildDir, '.profile.d');
    fs.mkdirSync(dir, { recursive: true });
    // Defaults only: a config var of the same name (already in the environment) wins.
    const body = keys.map((k) => `if [ -z "\${${k}+x}" ]; then export ${k}=${shellQuote(configVars[k])}; fi`).join('\n');
    fs.writeFileSync(path.join(dir, '00_config_vars.sh'), `# Written by the Slipway build from the buildpacks' config_vars.\n${body}\n`);
  }
  fs.writeFileSync(resultOut, JSON.stringify({ buildpacks, processTypes, stack: process.env.STACK || 'bookworm' }));
}

const args = process.argv.slice(2);
const sep = args.indexOf('--');
try {
  if (sep < 2) throw new Error('usage: finish.js BUILD_DIR RESULT_OUT RELEASE_YML... -- NAME URL...');
  prepare(args[0], args[1], args.slice(2, sep), args.slice(sep + 1));
} catch (err) {
  console.error(` !     ${err && err.message ? err.message : err}`);
  process.exit(1);
}
