// Slipway's static file server, put into static sites' slugs as /app/.slipway/static-server.js
// and run as their web process. Node's standard library only. Reads /app/static.json:
//   root        directory to serve, relative to the app (default ".")
//   clean_urls  true: /about serves about.html, and /about.html redirects to /about
//   routes      {"/pattern": "file.html"}: served (200) when no file matches; `*` matches
//               within one path segment, `**` across segments; first match in file order
// Also: index.html for directories (with a redirect to add the trailing slash), 404.html
// when the root has one, GET and HEAD only, no dotfiles, nothing outside the root.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const APP = process.env.SLIPWAY_STATIC_APP || process.env.HOME || '/app';
const config = readConfig(path.join(APP, 'static.json'));
const ROOT = fs.realpathSync(path.resolve(APP, config.root || '.'));
const CLEAN_URLS = config.clean_urls === true;
const ROUTES = Object.entries(config.routes || {}).map(([pattern, file]) => ({ re: globToRegExp(pattern), file }));

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.map': 'application/json', '.txt': 'text/plain; charset=utf-8', '.md': 'text/markdown; charset=utf-8',
  '.xml': 'application/xml', '.csv': 'text/csv; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.avif': 'image/avif',
  '.ico': 'image/x-icon', '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf', '.otf': 'font/otf',
  '.wasm': 'application/wasm', '.pdf': 'application/pdf', '.mp4': 'video/mp4', '.webm': 'video/webm',
  '.mp3': 'audio/mpeg', '.wav': 'audio/wav', '.webmanifest': 'application/manifest+json', '.zip': 'application/zip',
};

function readConfig(file) {
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8'));
    return c && typeof c === 'object' ? c : {};
  } catch (err) {
    if (err.code !== 'ENOENT') console.error(`static.json ignored: ${err.message}`);
    return {};
  }
}

function globToRegExp(pattern) {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*' && pattern[i + 1] === '*') { re += '.*'; i++; }
    else if (ch === '*') re += '[^/]*';
    else re += ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The file under ROOT for a URL path, or null: no dotfiles, no escape through `..` or symlinks. */
function resolveFile(urlPath) {
  const parts = urlPath.split('/').filter(Boolean);
  if (parts.some((p) => p.startsWith('.') || p.includes('\0') || p.includes('\\'))) return null;
  const full = path.join(ROOT, ...parts);
  let real;
  try {
    real = fs.realpathSync(full);
  } catch {
    return null;
  }
  if (real !== ROOT && !real.startsWith(ROOT + path.sep)) return null;
  const st = fs.statSync(real);
  return { file: real, dir: st.isDirectory(), st };
}

function send(req, res, found, status = 200) {
  const type = TYPES[path.extname(found.file).toLowerCase()] || 'application/octet-stream';
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': found.st.size,
    'Last-Modified': found.st.mtime.toUTCString(),
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') return res.end();
  fs.createReadStream(found.file).on('error', () => res.destroy()).pipe(res);
}

function redirect(res, location) {
  res.writeHead(301, { Location: location, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`Moved to ${location}\n`);
}

function plain(res, status, text, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${text}\n`);
}

function file(urlPath) {
  const f = resolveFile(urlPath);
  return f && !f.dir ? f : null;
}

function handle(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
  let urlPath;
  try {
    const raw = (req.url || '/').split('?')[0];
    urlPath = decodeURIComponent(raw);
  } catch {
    return plain(res, 400, 'Bad Request');
  }
  if (!urlPath.startsWith('/')) return plain(res, 400, 'Bad Request');
  const query = (req.url || '').includes('?') ? (req.url || '').slice((req.url || '').indexOf('?')) : '';

  const found = resolveFile(urlPath);
  if (found && found.dir) {
    if (!urlPath.endsWith('/')) return redirect(res, `${encodeURI(urlPath)}/${query}`);
    const index = file(`${urlPath}index.html`);
    if (index) return send(req, res, index);
  } else if (found) {
    if (CLEAN_URLS && urlPath.endsWith('.html')) {
      const clean = urlPath.replace(/\.html$/, '');
      if (!clean.endsWith('/index')) return redirect(res, `${encodeURI(clean)}${query}`);
    }
    return send(req, res, found);
  }
  if (CLEAN_URLS && !urlPath.endsWith('/')) {
    const html = file(`${urlPath}.html`);
    if (html) return send(req, res, html);
  }
  for (const route of ROUTES) {
    if (route.re.test(urlPath)) {
      const target = file(`/${route.file.replace(/^\/+/, '')}`);
      if (target) return send(req, res, target);
    }
  }
  const notFound = file('/404.html');
  if (notFound) return send(req, res, notFound, 404);
  return plain(res, 404, 'Not Found');
}

const server = http.createServer((req, res) => {
  try {
    handle(req, res);
  } catch (err) {
    console.error(`static-server: ${req.method} ${req.url}: ${err.message}`);
    if (!res.headersSent) plain(res, 500, 'Internal Server Error');
    else res.destroy();
  }
});
const port = Number(process.env.PORT || 5000);
server.listen(port, '0.0.0.0', () => console.log(`static-server: serving ${ROOT} on port ${port}`));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
