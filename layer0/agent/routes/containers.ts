// Container lifecycle endpoints: create (Docker JSON → spec), list with filters, inspect,
// start, stop, restart, kill, wait (headers flushed at once: research trap 3), remove, resize.
import { availableParallelism } from 'node:os';
import { SlipwayError } from '../../common/errors.ts';
import { tryNormalizeRef } from '../../runtime/images/refs.ts';
import type { ContainerRecord, WaitCondition } from '../../runtime/types.ts';
import { buildSpec, CreateBodySchema, validateName } from '../docker-json.ts';
import { containerInspect, containerSummary } from '../docker-views.ts';
import { readJson, sendEmpty, sendJson } from '../http.ts';
import { randomName } from '../names.ts';
import { boolParam, checkFilterNames, intParam, matchLabels, parseFilters, type Filters } from '../query.ts';
import type { Ctx, Route } from '../router.ts';
import type { AgentDeps } from './deps.ts';

const LIST_FILTERS = ['id', 'name', 'label', 'status', 'ancestor', 'exited', 'before', 'since', 'network', 'health', 'volume', 'expose', 'publish', 'is-task'];
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];
const CONDITIONS: WaitCondition[] = ['not-running', 'next-exit', 'removed'];

export function nameConflict(name: string, id: string): SlipwayError {
  return new SlipwayError('name_in_use', `Conflict. The container name "/${name}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`);
}

export function containerRoutes(d: AgentDeps): Route[] {
  const { runtime } = d;
  const ncpu = Math.min(d.host.machineCpus, availableParallelism());
  const byName = (name: string) => runtime.list().find((c) => c.spec.name === name);

  async function create({ req, res, query }: Ctx): Promise<void> {
    const raw = await readJson(req);
    if (raw === undefined || raw === null) throw new SlipwayError('invalid_params', 'config cannot be empty in order to create a container');
    const body = CreateBodySchema.parse(raw);
    const qname = query.get('name') ?? (typeof (raw as { name?: unknown }).name === 'string' ? (raw as { name: string }).name : '');
    const name = qname ? validateName(qname) : randomName((n) => byName(n) !== undefined);
    if (!body.Image) throw new SlipwayError('invalid_params', 'no image specified: Config.Image is required');
    const image = d.images.tryResolve(body.Image);
    if (!image) {
      const norm = tryNormalizeRef(body.Image);
      if (!norm && !/^(sha256:)?[0-9a-f]{4,64}$/.test(body.Image)) throw new SlipwayError('invalid_params', `invalid reference format: ${body.Image}`);
      throw new SlipwayError('image_not_found', `No such image: ${norm ?? body.Image}`);
    }
    const { spec, extra, warnings } = buildSpec(body, name, image, ncpu);
    const taken = byName(name);
    if (taken) throw nameConflict(name, taken.id);
    let rec: ContainerRecord;
    try {
      rec = await runtime.create(spec, { ...extra });
    } catch (err) {
      const other = err instanceof SlipwayError && err.code === 'name_in_use' ? byName(name) : undefined;
      throw other ? nameConflict(name, other.id) : err;
    }
    sendJson(res!, 201, { Id: rec.id, Warnings: warnings });
  }

  function list({ res, query }: Ctx): void {
    const f = parseFilters(query.get('filters'));
    checkFilterNames(f, LIST_FILTERS);
    for (const s of f.get('status') ?? []) if (!STATUSES.includes(s)) throw new SlipwayError('invalid_params', `invalid filter 'status=${s}'`);
    const limit = intParam(query, 'limit', -1);
    const all = boolParam(query, 'all') || limit > 0 || f.has('status') || f.has('exited');
    let out = runtime.list().filter((c) => (all || c.state.status === 'running' || c.state.status === 'restarting') && listMatches(d, c, f));
    out.sort((a, b) => b.created.localeCompare(a.created));
    if (limit > 0) out = out.slice(0, limit);
    const now = Date.now();
    sendJson(res!, 200, out.map((c) => containerSummary(c, now)));
  }

  async function wait({ res, params, query }: Ctx): Promise<void> {
    const condition = (query.get('condition') || 'not-running') as WaitCondition;
    if (!CONDITIONS.includes(condition)) throw new SlipwayError('invalid_params', `invalid condition: "${condition}"`);
    const rec = runtime.get(params.id!);
    const r = res!;
    const ac = new AbortController();
    r.on('close', () => ac.abort());
    // The CLI sends /wait before /start and blocks until it sees these headers.
    r.writeHead(200, { 'Content-Type': 'application/json' });
    r.flushHeaders();
    try {
      const { exitCode, error } = await runtime.wait(rec.id, condition, ac.signal);
      r.end(`${JSON.stringify({ StatusCode: exitCode, Error: error ? { Message: error } : null })}\n`);
    } catch (err) {
      if (ac.signal.aborted) return;
      d.log.warn({ err, id: rec.id }, 'wait failed');
      r.end(`${JSON.stringify({ StatusCode: -1, Error: { Message: err instanceof SlipwayError ? err.message : 'wait failed' } })}\n`);
    }
  }

  const timeoutOpts = (q: URLSearchParams) => ({ timeout: intParam(q, 't'), signal: q.get('signal') || undefined });

  return [
    { method: 'POST', path: '/containers/create', handler: create, body: true },
    { method: 'GET', path: '/containers/json', handler: list },
    { method: 'GET', path: '/containers/{id}/json', handler: ({ res, params }) => sendJson(res!, 200, containerInspect(runtime.get(params.id!))) },
    {
      method: 'POST', path: '/containers/{id}/start',
      handler: async ({ res, params }) => {
        const rec = runtime.get(params.id!);
        try {
          await runtime.start(rec.id);
        } catch (err) {
          // Moby removes an AutoRemove container whose start failed; `docker run --rm` waits for that.
          if (rec.spec.autoRemove && !(err instanceof SlipwayError && err.code === 'not_modified')) {
            await runtime.remove(rec.id, { force: true }).catch((e: unknown) => d.log.warn({ err: e, id: rec.id }, 'auto-remove after a failed start'));
          }
          throw err;
        }
        sendEmpty(res!, 204);
      },
    },
    {
      method: 'POST', path: '/containers/{id}/stop',
      handler: async ({ res, params, query }) => {
        await d.registrar?.drain(runtime.get(params.id!).id);
        await runtime.stop(params.id!, timeoutOpts(query));
        sendEmpty(res!, 204);
      },
    },
    {
      method: 'POST', path: '/containers/{id}/restart',
      handler: async ({ res, params, query }) => {
        await d.registrar?.drain(runtime.get(params.id!).id);
        await runtime.restart(params.id!, timeoutOpts(query));
        sendEmpty(res!, 204);
      },
    },
    {
      method: 'POST', path: '/containers/{id}/kill',
      handler: async ({ res, params, query }) => {
        await runtime.kill(params.id!, query.get('signal') || 'SIGKILL');
        sendEmpty(res!, 204);
      },
    },
    { method: 'POST', path: '/containers/{id}/wait', handler: wait },
    {
      method: 'DELETE', path: '/containers/{id}',
      handler: async ({ res, params, query }) => {
        const rec = runtime.get(params.id!);
        try {
          await runtime.remove(rec.id, { force: boolParam(query, 'force') });
        } catch (err) {
          if (err instanceof SlipwayError && err.code === 'conflict' && rec.state.status === 'running') {
            throw new SlipwayError('conflict', `cannot remove container "/${rec.spec.name}": container is running: stop the container before removing or force remove`);
          }
          throw err;
        }
        sendEmpty(res!, 204);
      },
    },
    {
      method: 'POST', path: '/containers/{id}/resize',
      handler: ({ res, params }) => {
        runtime.get(params.id!);
        res!.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 0 });
        res!.end();
      },
    },
  ];
}

export function listMatches(d: AgentDeps, c: ContainerRecord, f: Filters): boolean {
  const one = (key: string, pred: (v: string) => boolean) => !f.has(key) || f.get(key)!.some(pred);
  if (!one('id', (v) => c.id.startsWith(v))) return false;
  if (!one('name', (v) => nameRegExp(v).test(`/${c.spec.name}`))) return false;
  if (!one('status', (v) => v === c.state.status)) return false;
  if (!one('exited', (v) => c.state.status === 'exited' && Number(v) === c.state.exitCode)) return false;
  if (!one('ancestor', (v) => c.imageId === d.images.tryResolve(v)?.id || c.spec.image === v || tryNormalizeRef(c.spec.image) === tryNormalizeRef(v))) return false;
  if (!one('network', (v) => v === (c.network?.mode ?? c.spec.network))) return false;
  return matchLabels(f.get('label'), c.spec.labels);
}

const nameRes = new Map<string, RegExp>();
function nameRegExp(v: string): RegExp {
  let re = nameRes.get(v);
  if (!re) {
    try {
      re = new RegExp(v);
    } catch {
      re = new RegExp(v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    }
    if (nameRes.size > 256) nameRes.clear();
    nameRes.set(v, re);
  }
  return re;
}
