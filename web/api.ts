// The dashboard's client for the controller's own /v1 API, over loopback with the session's
// token: every change a person makes in the browser passes the same auth, roles, validation
// and audit as the CLI's. JSON calls, and raw streams for the Server-Sent Events the pages follow.
import { request as httpRequest, type IncomingMessage } from 'node:http';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface Api {
  get<T = any>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  /** A GET whose 404 (the thing asked for is not there, or no longer) is `null`. */
  maybe<T = any>(path: string, query?: Record<string, string | number | undefined>): Promise<T | null>;
  send<T = any>(method: string, path: string, body?: unknown): Promise<T>;
  /** Opens a stream (`accept` header as given); the caller pipes or reads the response. An answer of 400 or more is an ApiError, as for JSON calls. */
  stream(path: string, opts: { accept: string; query?: Record<string, string | undefined>; headers?: Record<string, string>; signal: AbortSignal }): Promise<IncomingMessage>;
}

/** Where the controller listens, for calls over loopback (known once it listens). */
export type ApiBase = () => { host: string; port: number };

const TIMEOUT_MS = 120_000;

function withQuery(path: string, query?: Record<string, string | number | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') qs.set(k, String(v));
  const s = qs.toString();
  return `/v1${path}${s ? (path.includes('?') ? '&' : '?') + s : ''}`;
}

async function text(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parse(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null; // not JSON
  }
}

export function createApi(base: ApiBase, token: string, requestId?: string): Api {
  function raw(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, signal?: AbortSignal): Promise<IncomingMessage> {
    const { host, port } = base();
    return new Promise((resolve, reject) => {
      const req = httpRequest({
        host, port, method, path, signal, timeout: TIMEOUT_MS,
        headers: {
          authorization: `Bearer ${token}`,
          ...(requestId ? { 'x-request-id': requestId } : {}),
          ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
          ...headers,
        },
      }, resolve);
      req.on('timeout', () => req.destroy(new ApiError(504, 'timeout', `the API did not answer ${method} ${path.split('?')[0]} in time`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The response of a call; an unreachable API is a 502 and an answer of 400 or more an ApiError (with the API's code and message). */
  async function call(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, signal?: AbortSignal): Promise<IncomingMessage> {
    let res: IncomingMessage;
    try {
      res = await raw(method, path, headers, body, signal);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (signal?.aborted) throw new ApiError(504, 'timeout', `the API did not answer ${method} ${path.split('?')[0]} in time`);
      throw new ApiError(502, 'unavailable', 'the platform API cannot be reached');
    }
    const status = res.statusCode ?? 502;
    if (status < 400) return res;
    const parsed = parse(await text(res)) as { error?: { code?: string; message?: string } } | null;
    throw new ApiError(status, parsed?.error?.code ?? String(status), parsed?.error?.message ?? `the API answered ${status}`);
  }

  async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await call(method, path, { accept: 'application/json' }, body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
    return parse(await text(res)) as T;
  }

  return {
    get: (path, query) => json('GET', withQuery(path, query)),
    async maybe(path, query) {
      try {
        return await json('GET', withQuery(path, query));
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
    },
    send: (method, path, body) => json(method, withQuery(path), body),
    stream: (path, o) => call('GET', withQuery(path, o.query), { accept: o.accept, ...o.headers }, undefined, o.signal),
  };
}
