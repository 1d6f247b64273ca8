// `docker cp`: GET (tar out), HEAD (stat only) and PUT (tar in) of /containers/{id}/archive,
// with the `X-Docker-Container-Path-Stat` header (base64 JSON, mode as Go's os.FileMode).
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../../common/errors.ts';
import type { PathStat } from '../../runtime/types.ts';
import type { Ctx, Route } from '../router.ts';
import type { AgentDeps } from './deps.ts';

const S_IFMT = 0o170000;
const GO = { dir: 2 ** 31, symlink: 2 ** 27, device: 2 ** 26, pipe: 2 ** 25, socket: 2 ** 24, setuid: 2 ** 23, setgid: 2 ** 22, char: 2 ** 21, sticky: 2 ** 20 };

/** A unix st_mode → Go's os.FileMode bits, which the CLI tests with IsDir(). */
export function goFileMode(mode: number): number {
  let m = mode & 0o777;
  switch (mode & S_IFMT) {
    case 0o040000: m += GO.dir; break;
    case 0o120000: m += GO.symlink; break;
    case 0o060000: m += GO.device; break;
    case 0o020000: m += GO.device + GO.char; break;
    case 0o010000: m += GO.pipe; break;
    case 0o140000: m += GO.socket; break;
  }
  if (mode & 0o4000) m += GO.setuid;
  if (mode & 0o2000) m += GO.setgid;
  if (mode & 0o1000) m += GO.sticky;
  return m;
}

export function statHeader(s: PathStat): string {
  return Buffer.from(JSON.stringify({ name: s.name, size: s.size, mode: goFileMode(s.mode), mtime: s.mtime, linkTarget: s.linkTarget })).toString('base64');
}

function pathParam(q: URLSearchParams): string {
  const p = q.get('path');
  if (!p) throw new SlipwayError('invalid_params', 'path is required');
  return p;
}

export function archiveRoutes(d: AgentDeps): Route[] {
  const { runtime } = d;

  async function get({ req, res, params, query }: Ctx): Promise<void> {
    const path = pathParam(query);
    const r = res!;
    if (req.method === 'HEAD') {
      const stat = await runtime.archiveStat(params.id!, path);
      r.writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/x-tar' });
      r.end();
      return;
    }
    const { stat, tar } = await runtime.archiveGet(params.id!, path);
    r.writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/x-tar' });
    await pipeline(tar, r).catch((err: unknown) => {
      d.log.warn({ err, path }, 'archive stream failed');
      r.destroy();
    });
  }

  async function put({ req, res, params, query }: Ctx): Promise<void> {
    const path = pathParam(query);
    await runtime.archivePut(params.id!, path, req);
    res!.writeHead(200, { 'Content-Length': 0 });
    res!.end();
  }

  return [
    { method: 'GET', path: '/containers/{id}/archive', handler: get },
    { method: 'PUT', path: '/containers/{id}/archive', handler: put, body: true },
  ];
}
