// Image endpoints: list with filters, import (`fromSrc=-` or an http(s) URL; pulls are refused
// at once, there is no registry), inspect, tag, remove with Docker's rules and item list.
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { SlipwayError } from '../../common/errors.ts';
import { parseRef, tryNormalizeRef } from '../../runtime/images/refs.ts';
import type { ImageRecord } from '../../runtime/types.ts';
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

function fetchUrl(url: string): Promise<IncomingMessage> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SlipwayError('invalid_params', `invalid fromSrc URL: ${url}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SlipwayError('invalid_params', `unsupported fromSrc URL scheme: ${u.protocol}`);
  return new Promise((resolve, reject) => {
    const req = (u.protocol === 'https:' ? httpsGet : httpGet)(u, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new SlipwayError('invalid_params', `fetching ${url}: HTTP ${res.statusCode}`));
      } else resolve(res);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => reject(new SlipwayError('invalid_params', `fetching ${url}: ${err.message}`)));
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
    if (fromSrc === '-') src = req;
    else {
      req.resume();
      src = await fetchUrl(fromSrc);
    }
    const img = await images.importTar(src as IncomingMessage, opts);
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
