// The typed agent client layer 1 uses (through dockerode, wrapped once): containers, logs,
// exec, images and events over the unix socket or TCP with a bearer token. Nothing else.
import Docker from 'dockerode';
import { PassThrough, type Readable } from 'node:stream';
import type { Duplex } from 'node:stream';
import { FrameReader, STDERR, STDOUT, type Frame } from './mux.ts';
import type { AgentClientOptions, AgentEvent, ContainerMetrics, ContainerCreateRequest, ExecResult, LogChunk, TtyExec } from './types.ts';

export interface AgentClient {
  ping(): Promise<boolean>;
  /** Presents the client's fencing token (sent as a header) to the agent. */
  fence(): Promise<void>;
  info(): Promise<{ NCPU: number; MemTotal: number; Containers: number; ContainersRunning: number; Name: string }>;
  createContainer(req: ContainerCreateRequest): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** Resolves once stopped; an already stopped container is fine. */
  stopContainer(id: string, timeoutSeconds?: number): Promise<void>;
  killContainer(id: string, signal?: string): Promise<void>;
  /** A missing container is fine. */
  removeContainer(id: string, force?: boolean): Promise<void>;
  waitContainer(id: string, condition?: 'not-running' | 'next-exit' | 'removed'): Promise<number>;
  inspectContainer(id: string): Promise<Docker.ContainerInspectInfo>;
  /** `docker cp` in: extracts the tar into `path` (a directory that exists) in the container. */
  putArchive(id: string, path: string, tar: Readable): Promise<void>;
  /** `docker cp` out: a tar stream of `path` in the container (its base name is the top entry). */
  getArchive(id: string, path: string): Promise<Readable>;
  listContainers(opts?: { all?: boolean; labels?: string[] }): Promise<Docker.ContainerInfo[]>;
  logs(id: string, opts?: { follow?: boolean; tail?: number; since?: number; timestamps?: boolean; signal?: AbortSignal }): AsyncIterable<LogChunk>;
  /** The same stream as `logs`, as the frames of each read (no per-frame stream hops: log shippers). */
  logBatches(id: string, opts?: { follow?: boolean; tail?: number; since?: number; timestamps?: boolean; signal?: AbortSignal }): AsyncIterable<LogChunk[]>;
  exec(id: string, cmd: string[], opts?: { env?: string[]; user?: string; workingDir?: string }): Promise<ExecResult>;
  /** Starts `cmd` in the container with a TTY and stdin (`docker exec -it`), sized `cols` × `rows` when given. */
  execTty(id: string, cmd: string[], opts?: { env?: string[]; user?: string; workingDir?: string; cols?: number; rows?: number }): Promise<TtyExec>;
  importImage(tar: Readable, opts: { repo?: string; tag?: string; changes?: string[]; message?: string; parent?: string }): Promise<string>;
  /** The agent fetches the tar itself (`fromSrc=<url>`); `untrusted`: the URL must pass the URL policy at connect time. */
  importImageFromUrl(url: string, opts: { repo?: string; tag?: string; parent?: string; untrusted?: boolean }): Promise<string>;
  listImages(): Promise<Docker.ImageInfo[]>;
  inspectImage(ref: string): Promise<Docker.ImageInspectInfo>;
  removeImage(ref: string, force?: boolean): Promise<void>;
  /** `POST /images/prune`: unused images the filters select (`dangling`, `until`, `label`, `label!`, and Slipway's `reference`, `keep`). */
  pruneImages(filters: Record<string, string[]>): Promise<{ deleted: string[]; spaceReclaimed: number }>;
  events(opts?: { since?: number; filters?: Record<string, string[]>; signal?: AbortSignal }): AsyncIterable<AgentEvent>;
  /** Every container's latest cgroup sample (`GET /slipway/metrics`, refreshed by the agent every few seconds). */
  metrics(): Promise<ContainerMetrics[]>;
}

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;

export function connectAgent(opts: AgentClientOptions): AgentClient {
  const headers = { ...opts.headers, ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}) };
  const docker = opts.socketPath
    ? new Docker({ socketPath: opts.socketPath, headers } as Docker.DockerOptions)
    : new Docker({ host: opts.host, port: opts.port, protocol: 'http', headers } as Docker.DockerOptions);

  /** A framed stream's (or buffer's) frames, a batch per read, until it ends or `signal` aborts. */
  async function* frameBatches(got: NodeJS.ReadableStream | Buffer, signal?: AbortSignal): AsyncGenerator<Frame[]> {
    const stream = Buffer.isBuffer(got) ? new PassThrough().end(got) : got;
    const onAbort = () => (stream as Readable).destroy?.();
    signal?.addEventListener('abort', onAbort);
    const reader = new FrameReader();
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const frames = reader.push(chunk);
        if (frames.length) yield frames;
      }
    } catch (err) {
      if (!signal?.aborted) throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      (stream as Readable).destroy?.();
    }
  }

  /** One chunk per frame, for `logs` and `exec`: as docker-modem's demuxStream did, anything not stdout (an in-band error) counts as stderr, and a broken stream just ends. */
  async function* chunksOf(got: NodeJS.ReadableStream | Buffer, signal?: AbortSignal): AsyncGenerator<LogChunk> {
    try {
      for await (const frames of frameBatches(got, signal)) {
        for (const f of frames) if (f.data.length) yield { stream: f.type === STDOUT ? 'stdout' : 'stderr', data: f.data };
      }
    } catch {
      /* the stream broke: the output ends there */
    }
  }

  async function importFrom(tar: Readable | null, o: { repo?: string; tag?: string; changes?: string[]; message?: string; parent?: string; fromSrc?: string; untrusted?: boolean }): Promise<string> {
    // docker-modem builds the query itself (arrays repeat: changes=a&changes=b).
    const options: Record<string, unknown> = { fromSrc: o.fromSrc ?? '-', ...(o.untrusted ? { fromSrcUntrusted: '1' } : {}) };
    for (const [k, v] of Object.entries({ repo: o.repo, tag: o.tag, message: o.message, parent: o.parent })) if (v) options[k] = v;
    if (o.changes?.length) options.changes = o.changes;
    const stream = (await new Promise((resolve, reject) => {
      docker.modem.dial(
        { path: '/images/create?', method: 'POST', options, ...(tar ? { file: tar } : {}), isStream: true, statusCodes: { 200: true, 400: 'bad parameter', 404: 'not found', 413: 'too large', 422: 'refused', 500: 'server error' } },
        (err: unknown, res: unknown) => (err ? reject(err) : resolve(res as NodeJS.ReadableStream)),
      );
    })) as NodeJS.ReadableStream;
    let text = '';
    for await (const c of stream) text += c.toString();
    const last = JSON.parse(text.trim().split('\n').pop()!) as { status?: string; error?: string };
    if (!last.status) throw new Error(last.error ?? 'import failed');
    return last.status;
  }

  return {
    async ping() {
      return (await docker.ping()).toString() === 'OK';
    },
    fence: () =>
      new Promise<void>((resolve, reject) => {
        docker.modem.dial({ path: '/slipway/fence', method: 'POST', options: {}, statusCodes: { 204: true, 409: 'stale fencing token', 400: 'bad fencing token' } },
          (err: unknown) => (err ? reject(err) : resolve()));
      }),
    info: () => docker.info(),
    async createContainer(req) {
      return (await docker.createContainer(req as Docker.ContainerCreateOptions)).id;
    },
    async startContainer(id) {
      await docker.getContainer(id).start().catch((err) => {
        if (statusOf(err) !== 304) throw err;
      });
    },
    async stopContainer(id, t) {
      await docker.getContainer(id).stop(t === undefined ? {} : { t }).catch((err) => {
        if (statusOf(err) !== 304) throw err;
      });
    },
    async killContainer(id, signal = 'SIGKILL') {
      await docker.getContainer(id).kill({ signal });
    },
    async removeContainer(id, force = false) {
      await docker.getContainer(id).remove({ force }).catch((err) => {
        if (statusOf(err) !== 404) throw err;
      });
    },
    async waitContainer(id, condition = 'not-running') {
      return ((await docker.getContainer(id).wait({ condition })) as { StatusCode: number }).StatusCode;
    },
    inspectContainer: (id) => docker.getContainer(id).inspect(),
    listContainers: (o = {}) => docker.listContainers({ all: o.all ?? false, filters: o.labels?.length ? { label: o.labels } : undefined }),
    logs(id, o = {}) {
      const c = docker.getContainer(id);
      const base = { stdout: true, stderr: true, timestamps: o.timestamps ?? false, ...(o.tail === undefined ? {} : { tail: o.tail }), since: o.since ?? 0 };
      return {
        async *[Symbol.asyncIterator]() {
          yield* chunksOf((await c.logs({ ...base, follow: (o.follow ?? false) as true })) as unknown as NodeJS.ReadableStream | Buffer, o.signal);
        },
      };
    },
    logBatches(id, o = {}) {
      const c = docker.getContainer(id);
      const base = { stdout: true, stderr: true, timestamps: o.timestamps ?? false, ...(o.tail === undefined ? {} : { tail: o.tail }), since: o.since ?? 0 };
      return {
        async *[Symbol.asyncIterator]() {
          const got = (await c.logs({ ...base, follow: (o.follow ?? false) as true })) as unknown as NodeJS.ReadableStream | Buffer;
          for await (const frames of frameBatches(got, o.signal)) {
            const out: LogChunk[] = [];
            for (const f of frames) if (f.type === STDOUT || f.type === STDERR) out.push({ stream: f.type === STDOUT ? 'stdout' : 'stderr', data: f.data });
            if (out.length) yield out;
          }
        },
      };
    },
    async exec(id, cmd, o = {}) {
      const ex = await docker.getContainer(id).exec({ Cmd: cmd, Env: o.env, User: o.user, WorkingDir: o.workingDir, AttachStdout: true, AttachStderr: true });
      const stream = await ex.start({ hijack: true, stdin: false });
      const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
      for await (const c of chunksOf(stream)) chunks[c.stream].push(c.data);
      const { ExitCode } = await ex.inspect();
      return { exitCode: ExitCode ?? -1, stdout: Buffer.concat(chunks.stdout).toString(), stderr: Buffer.concat(chunks.stderr).toString() };
    },
    async execTty(id, cmd, o = {}) {
      const ex = await docker.getContainer(id).exec({ Cmd: cmd, Env: o.env, User: o.user, WorkingDir: o.workingDir, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true });
      const size = o.cols && o.rows ? { ConsoleSize: [o.rows, o.cols] } : {};
      const stream = (await ex.start({ hijack: true, stdin: true, Tty: true, ...size })) as unknown as Duplex;
      const resize = async (cols: number, rows: number) => {
        await ex.resize({ w: cols, h: rows });
      };
      return {
        id: ex.id,
        stream,
        resize,
        async exitCode() {
          const info = await ex.inspect();
          return info.Running ? null : (info.ExitCode ?? null);
        },
      };
    },
    importImageFromUrl(url, o) {
      return importFrom(null, { ...o, fromSrc: url });
    },
    importImage(tar, o) {
      return importFrom(tar, o);
    },
    metrics: () =>
      new Promise<ContainerMetrics[]>((resolve, reject) => {
        docker.modem.dial({ path: '/slipway/metrics', method: 'GET', options: {}, statusCodes: { 200: true, 500: 'server error' } },
          (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as ContainerMetrics[])));
      }),
    async putArchive(id, path, tar) {
      const res = await docker.getContainer(id).putArchive(tar, { path });
      // docker-modem hands back the (empty) response stream: drain it.
      (res as unknown as NodeJS.ReadableStream | undefined)?.resume?.();
    },
    async getArchive(id, path) {
      return (await docker.getContainer(id).getArchive({ path })) as unknown as Readable;
    },
    listImages: () => docker.listImages(),
    inspectImage: (ref) => docker.getImage(ref).inspect(),
    async pruneImages(filters) {
      const r = (await docker.pruneImages({ filters })) as { ImagesDeleted?: { Deleted?: string }[] | null; SpaceReclaimed?: number };
      return { deleted: (r.ImagesDeleted ?? []).flatMap((i) => (i.Deleted ? [i.Deleted] : [])), spaceReclaimed: r.SpaceReclaimed ?? 0 };
    },
    async removeImage(ref, force = false) {
      await docker.getImage(ref).remove({ force });
    },
    events(o = {}) {
      return {
        async *[Symbol.asyncIterator]() {
          const stream = (await docker.getEvents({ since: o.since, filters: o.filters })) as unknown as Readable;
          const onAbort = () => stream.destroy();
          o.signal?.addEventListener('abort', onAbort);
          let buf = '';
          try {
            for await (const chunk of stream) {
              buf += chunk.toString();
              let nl: number;
              while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl).trim();
                buf = buf.slice(nl + 1);
                if (line) yield JSON.parse(line) as AgentEvent;
              }
            }
          } catch (err) {
            if (!o.signal?.aborted) throw err;
          } finally {
            o.signal?.removeEventListener('abort', onAbort);
          }
        },
      };
    },
  };
}
