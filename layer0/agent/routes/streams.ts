// Streaming container endpoints: logs (framed unless Tty), attach (hijacked 101 or plain 200,
// registered before start, ended when the container's output ends) and stats.
import type { Writable } from 'node:stream';
import { SlipwayError } from '../../common/errors.ts';
import type { ContainerStats, LogLine } from '../../runtime/types.ts';
import { dockerTimestamp, statsJson } from '../docker-views.ts';
import { readUpgradeBody, writeUpgrade } from '../hijack.ts';
import { COMMON_HEADERS, sendJson } from '../http.ts';
import { MULTIPLEXED, OutputWriter, RAW_STREAM } from '../mux.ts';
import { boolParam, unixTimeParam } from '../query.ts';
import type { Ctx, Route } from '../router.ts';
import type { AgentDeps } from './deps.ts';
import type { MetricsSampler } from './metrics.ts';

type Want = { stdout: boolean; stderr: boolean; timestamps: boolean };

async function pump(lines: AsyncIterable<LogLine>, w: OutputWriter, want: Want, out?: Writable): Promise<void> {
  // Lines come in bursts (one file read holds many): cork the response for the burst, so it
  // leaves in one write instead of two or three per line (a chatty container's log follow).
  let corked = false;
  const uncork = () => {
    corked = false;
    out?.uncork();
  };
  for await (const line of lines) {
    if (!want[line.stream]) continue;
    if (out && !corked) {
      corked = true;
      out.cork();
      setImmediate(uncork);
    }
    const data = want.timestamps ? Buffer.concat([Buffer.from(`${dockerTimestamp(line.time)} `), line.data]) : line.data;
    if (!w.write(line.stream, data)) await w.drain();
  }
}

function tailParam(q: URLSearchParams): number | undefined {
  const v = q.get('tail');
  if (v === null || v === '' || v === 'all') return undefined;
  if (!/^-?\d+$/.test(v)) throw new SlipwayError('invalid_params', `invalid value for tail: ${JSON.stringify(v)}`);
  return Number(v) < 0 ? undefined : Number(v);
}

export function streamRoutes(d: AgentDeps, sampler?: Pick<MetricsSampler, 'latest'>): Route[] {
  const { runtime } = d;

  async function logs({ res, params, query }: Ctx): Promise<void> {
    const rec = runtime.get(params.id!);
    const want = { stdout: boolParam(query, 'stdout'), stderr: boolParam(query, 'stderr'), timestamps: boolParam(query, 'timestamps') };
    if (!want.stdout && !want.stderr) throw new SlipwayError('invalid_params', 'Bad parameters: you must choose at least one stream');
    const follow = boolParam(query, 'follow');
    const q = { since: unixTimeParam(query, 'since'), until: unixTimeParam(query, 'until'), tail: tailParam(query), follow };
    const r = res!;
    const ac = new AbortController();
    r.on('close', () => ac.abort());
    r.writeHead(200, { 'Content-Type': rec.spec.tty ? RAW_STREAM : MULTIPLEXED });
    if (follow) r.flushHeaders();
    const w = new OutputWriter(r, rec.spec.tty);
    try {
      await pump(runtime.logs(rec.id, { ...q, signal: ac.signal }), w, want, r);
    } catch (err) {
      if (!ac.signal.aborted) w.error(err instanceof SlipwayError ? err.message : 'log stream failed');
    }
    r.end();
  }

  async function attach({ req, res, upgrade, params, query }: Ctx): Promise<void> {
    const rec = runtime.get(params.id!);
    const want = { stdout: boolParam(query, 'stdout'), stderr: boolParam(query, 'stderr'), timestamps: false };
    const stream = boolParam(query, 'stream');
    const withLogs = boolParam(query, 'logs');
    const ac = new AbortController();
    // Register with the runtime now, before any answer: a `start` may follow at once.
    const live = stream ? runtime.attach(rec.id, ac.signal)[Symbol.asyncIterator]() : null;
    const first = live?.next();
    first?.catch(() => {});
    let out: Writable;
    const contentType = rec.spec.tty ? RAW_STREAM : MULTIPLEXED;
    if (upgrade) {
      const { socket, head } = upgrade;
      await readUpgradeBody(req, socket, head).catch(() => null);
      writeUpgrade(socket, contentType, COMMON_HEADERS);
      // The CLI half-closes at once when stdin is not attached (trap 5): ignore its 'end'.
      socket.resume();
      socket.on('close', () => ac.abort());
      out = socket as Writable;
    } else {
      const r = res!;
      r.on('close', () => ac.abort());
      r.writeHead(200, { 'Content-Type': contentType });
      r.flushHeaders();
      out = r;
    }
    const w = new OutputWriter(out, rec.spec.tty);
    try {
      if (withLogs) await pump(runtime.logs(rec.id, { follow: false, signal: ac.signal }), w, want);
      if (live && first) {
        for (let n = await first; !n.done; n = await live.next()) {
          const line = n.value;
          if (!want[line.stream]) continue;
          if (!w.write(line.stream, line.data)) await w.drain();
        }
      }
    } catch (err) {
      if (!ac.signal.aborted) w.error(err instanceof SlipwayError ? err.message : 'attach failed');
    }
    out.end();
  }

  const sample = async (id: string): Promise<ContainerStats | null> => {
    const rec = runtime.get(id);
    if (rec.state.status !== 'running') return null;
    try {
      return await runtime.stats(id);
    } catch (err) {
      if (err instanceof SlipwayError && err.status === 404) throw err;
      return null;
    }
  };

  async function stats({ res, params, query }: Ctx): Promise<void> {
    const rec = runtime.get(params.id!);
    const r = res!;
    if (!boolParam(query, 'stream', true)) {
      // precpu_stats: the sampler's newest sample; a container too new for one is sampled twice, a second apart (not with one-shot).
      const latest = sampler?.latest(rec.id) ?? null;
      let prev = latest && Date.now() - Date.parse(latest.read) < 10_000 ? latest : null;
      if (!prev && !boolParam(query, 'one-shot')) {
        prev = await sample(rec.id);
        if (prev) await new Promise((ok) => setTimeout(ok, 1000));
      }
      sendJson(r, 200, statsJson(rec, await sample(rec.id), prev, d.capacity.memory));
      return;
    }
    r.writeHead(200, { 'Content-Type': 'application/json' });
    r.flushHeaders();
    let prev: ContainerStats | null = null;
    let timer: NodeJS.Timeout | null = null;
    let closed = false;
    r.on('close', () => {
      closed = true;
      if (timer) clearTimeout(timer);
    });
    const tick = async () => {
      if (closed) return;
      try {
        const s = await sample(rec.id);
        r.write(`${JSON.stringify(statsJson(runtime.get(rec.id), s, prev, d.capacity.memory))}\n`);
        prev = s;
        timer = setTimeout(() => void tick(), 1000);
      } catch {
        r.end();
      }
    };
    await tick();
  }

  return [
    { method: 'GET', path: '/containers/{id}/logs', handler: logs },
    { method: 'POST', path: '/containers/{id}/attach', handler: attach, upgrade: true },
    { method: 'GET', path: '/containers/{id}/stats', handler: stats },
  ];
}
