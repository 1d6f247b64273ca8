// The CLI's HTTP client for /v1: bearer auth, JSON in and out, and the API's error shape
// turned into a CliError with a clear message (never a stack trace).
import type { CliConfig } from './config.ts';

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1, readonly code = 'error') {
    super(message);
  }
}

export interface ApiClient {
  readonly url: string;
  request<T>(method: string, path: string, body?: unknown, opts?: { query?: Record<string, string | number | undefined> }): Promise<T>;
  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  /** Every page of a `{ items, next }` list. */
  list<T>(path: string): Promise<T[]>;
}

export function createApiClient(cfg: CliConfig, fetchImpl: typeof fetch = fetch): ApiClient {
  async function request<T>(method: string, path: string, body?: unknown, opts: { query?: Record<string, string | number | undefined> } = {}): Promise<T> {
    if (!cfg.token && !path.endsWith('/openapi.json')) {
      throw new CliError('not logged in: run `slipway login` (or set SLIPWAY_TOKEN)', 1, 'unauthorized');
    }
    const u = new URL(`${cfg.url}/v1${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    let res: Response;
    try {
      res = await fetchImpl(u, {
        method,
        headers: { ...(cfg.token ? { authorization: `Bearer ${cfg.token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(`cannot reach Slipway at ${cfg.url} (${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message}); is it running? (slipway up, or set SLIPWAY_URL)`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
      const hint = res.status === 401 ? ' (run `slipway login`)' : '';
      throw new CliError(`${e?.message ?? `${res.status} ${res.statusText}`}${hint}`, 1, e?.code ?? String(res.status));
    }
    return json as T;
  }
  return {
    url: cfg.url,
    request,
    get: (path, query) => request('GET', path, undefined, { query }),
    async list<T>(path: string): Promise<T[]> {
      const out: T[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await request<{ items: T[]; next: string | null }>('GET', path, undefined, { query: { limit: 100, after } });
        out.push(...page.items);
        if (!page.next) return out;
        after = page.next;
      }
    },
  };
}
