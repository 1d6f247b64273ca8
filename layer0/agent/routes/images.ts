// Image endpoints: list with filters, import (`fromSrc=-` or an http(s) URL; pulls are refused
// at once, there is no registry), inspect, tag, remove with Docker's rules and item list.
// A URL import is capped in bytes fetched and bytes unpacked (SLIPWAY_IMAGE_URL_MAX_BYTES,
// SLIPWAY_IMAGE_MAX_BYTES: 413 past them), and with `fromSrcUntrusted=1` (a URL a tenant named)
// its address passes the URL policy at connect time (layer0/common/url-policy.ts). A trusted URL
// whose origin is one of the agent's `fetchAuth` gets that origin's bearer token (fetch-auth.ts);
// redirects are never followed, so the token goes to that origin only.
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { isIP } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { SlipwayError } from '../../common/errors.ts';
import { addressAllowed, policyLookup, urlPolicy } from '../../common/url-policy.ts';
import { parseRef, tryNormalizeRef } from '../../runtime/images/refs.ts';
import type { ImageRecord } from '../../runtime/types.ts';
import { fetchAuthHeader, type FetchAuth } from '../fetch-auth.ts';
import { imageInspect, imageSummary } from '../docker-views.ts';
import { sendJson } from '../http.ts';
import { boolParam, checkFilterNames, matchLabels, parseFilters, referenceMatches, type Filters } from '../query.ts';
import type { Ctx, Route } from '../router.ts';
import type { AgentDeps } from './deps.ts';
import { pruneImages } from '../image-prune.ts';

const IMAGE_FILTERS = ['reference', 'dangling', 'label', 'before', 'since'];

export function imageMatches(d: AgentDeps, img: ImageRecord, f: Filters): boolean {
  if (f.has('reference') && !referenceMatches(img, f.get('reference')!)) return false;
  if (f.has('dangling')) {
    const want = f.get('dangling')!.some((v) => v === 'true' || v === '1');
    if (want !== (img.tags.length === 0)) return false;
  }
  const created = Date.parse(img.created);
  if (f.has('before') && !f.get('before')!.every((r) => created < Date.parse(d.images.resolve(r).created))) return false;
  if (f.has('since') && !f.get('since')!.every((r) => created > Date.parse(d.images.resolve(r).created))) return false;
  return matchLabels(f.get('label'), img.config.Labels);
}

const GiB = 1024 ** 3;

/** The import caps, read per request (settings of the agent's environment; safe defaults). */
export function importLimits(env: NodeJS.ProcessEnv = process.env): { fetchBytes: number; unpackedBytes: number } {
  const n = (v: string | undefined, d: number) => (v && /^\d+$/.test(v) && Number(v) > 0 ? Number(v) : d);
  return { fetchBytes: n(env.SLIPWAY_IMAGE_URL_MAX_BYTES, 1 * GiB), unpackedBytes: n(env.SLIPWAY_IMAGE_MAX_BYTES, 4 * GiB) };
}

/** Passes bytes through until `max`, then fails with a 413. */
class ByteCap extends Transform {
  #seen = 0;
  constructor(private readonly max: number, private readonly url: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.max) return cb(new SlipwayError('payload_too_large', `fetching ${this.url}: more than ${this.max} bytes, the most this host fetches for an image`));
    cb(null, chunk);
  }
}

function fetchUrl(url: string, o: { untrusted: boolean; maxBytes: number; auth: readonly FetchAuth[] }): Promise<NodeJS.ReadableStream> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SlipwayError('invalid_params', `invalid fromSrc URL: ${url}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SlipwayError('invalid_params', `unsupported fromSrc URL scheme: ${u.protocol}`);
  const policy = o.untrusted ? urlPolicy(['http', 'https']) : null;
  if (policy) {
    // An address literal is never looked up, so policyLookup would not see it: checked here.
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    if (isIP(host) && !policy.allowHosts.has(host) && !addressAllowed(host, policy)) {
      throw new SlipwayError('unprocessable', `fromSrc ${host} is a loopback, link-local or private address, which this URL may not reach`);
    }
  }
  // A URL a tenant named never carries the platform's credential, whatever its origin.
  const authorization = o.untrusted ? null : fetchAuthHeader(o.auth, u);
  return new Promise((resolve, reject) => {
    const options = { ...(policy ? { lookup: policyLookup(policy) } : {}), ...(authorization ? { headers: { authorization } } : {}) };
    const req = (u.protocol === 'https:' ? httpsGet : httpGet)(u, options, (res) => {
      const length = Number(res.headers['content-length'] ?? -1);
      if (res.statusCode !== 200) {
        res.resume();
        reject(new SlipwayError('invalid_params', `fetching ${url}: HTTP ${res.statusCode}`));
      } else if (length > o.maxBytes) {
        res.destroy();
        reject(new SlipwayError('payload_too_large', `fetching ${url}: ${length} bytes, more than the ${o.maxBytes} this host fetches for an image`));
      } else {
        const capped = new ByteCap(o.maxBytes, url);
        res.on('error', (e) => capped.destroy(e));
        capped.on('error', () => res.destroy()); // the importer sees the error too; stop fetching either way
        resolve(res.pipe(capped));
      }
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new SlipwayError(err.code === 'EACCES' ? 'unprocessable' : 'invalid_params', `fetching ${url}: ${err.message}`)));
  });
}

export function imageRoutes(d: AgentDeps): Route[] {
  const { images, runtime } = d;

  async function create({ req, res, query }: Ctx): Promise<void> {
    const fromImage = query.get('fromImage');
    const fromSrc = query.get('fromSrc');
    if (!fromSrc) {
      req.resume();
      if (!fromImage) throw new SlipwayError('invalid_params', 'fromImage or fromSrc is required');
      let repo = fromImage;
      try {
        repo = parseRef(fromImage).name;
      } catch {
        /* shown as typed */
      }
      throw new SlipwayError('image_not_found', `pull access denied for ${repo}, repository does not exist or may require 'docker login'`);
    }
    const repo = query.get('repo') ?? '';
    const tag = query.get('tag') ?? '';
    const opts = {
      reference: repo ? (tag ? `${repo}:${tag}` : repo) : undefined,
      parent: query.get('parent') || undefined,
      changes: query.getAll('changes').filter((c) => c.trim() !== ''),
      message: query.get('message') ?? undefined,
    };
    let src: NodeJS.ReadableStream;
    let maxBytes: number | undefined;
    if (fromSrc === '-') src = req;
    else {
      req.resume();
      const limits = importLimits();
      maxBytes = limits.unpackedBytes;
      src = await fetchUrl(fromSrc, { untrusted: query.get('fromSrcUntrusted') === '1', maxBytes: limits.fetchBytes, auth: d.fetchAuth ?? [] });
    }
    const img = await images.importTar(src as IncomingMessage, { ...opts, ...(maxBytes ? { maxBytes } : {}) });
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    res!.end(`${JSON.stringify({ status: img.id })}\r\n`);
  }

  function list({ res, query }: Ctx): void {
    const f = parseFilters(query.get('filters'));
    checkFilterNames(f, IMAGE_FILTERS);
    sendJson(res!, 200, images.list().filter((i) => imageMatches(d, i, f)).map((i) => imageSummary(i)));
  }

  function inspect({ res, params }: Ctx): void {
    const img = images.resolve(params.name!);
    let total = img.size;
    for (let p = img.parent; p; ) {
      const parent = images.tryResolve(p);
      if (!parent) break;
      total += parent.size;
      p = parent.parent;
    }
    sendJson(res!, 200, imageInspect(img, total));
  }

  function tag({ res, params, query }: Ctx): void {
    const repo = query.get('repo');
    if (!repo) throw new SlipwayError('invalid_params', 'repository name must have at least one component');
    const t = query.get('tag');
    images.tag(params.name!, t ? `${repo}:${t}` : repo);
    res!.writeHead(201, { 'Content-Length': 0 });
    res!.end();
  }

  function remove({ res, params, query }: Ctx): void {
    const ref = params.name!;
    const force = boolParam(query, 'force');
    const img = images.resolve(ref);
    const users = runtime.list().filter((c) => c.imageId === img.id);
    const isTag = tryNormalizeRef(ref) !== null && img.tags.includes(tryNormalizeRef(ref)!);
    const deletes = !(isTag && img.tags.length > 1);
    if (deletes && users.length && !force) {
      const c = users[0]!;
      const what = isTag ? `remove repository reference "${ref}"` : `delete ${img.id.slice(7, 19)}`;
      throw new SlipwayError('conflict', `conflict: unable to ${what} (must force) - container ${c.id.slice(0, 12)} is using its referenced image ${img.id.slice(7, 19)}`);
    }
    // Containers need their image's layers (overlayfs lowerdir): never delete one in use.
    sendJson(res!, 200, images.remove(ref, { force, isInUse: (id) => runtime.list().some((c) => c.imageId === id) }));
  }

  return [
    { method: 'GET', path: '/images/json', handler: list },
    { method: 'POST', path: '/images/create', handler: create, body: true },
    { method: 'GET', path: '/images/{name*}/json', handler: inspect },
    { method: 'POST', path: '/images/{name*}/tag', handler: tag },
    { method: 'DELETE', path: '/images/{name*}', handler: remove },
    { method: 'POST', path: '/images/prune', handler: ({ res, query }) => sendJson(res!, 200, pruneImages(images, runtime, parseFilters(query.get('filters')))) },
  ];
}
