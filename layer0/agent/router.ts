// The agent's route table: `/v1.NN` stripped, `{param}` segments (a `*` param may hold slashes,
// for image names like `slipway/stack:bookworm/json`), compiled once into regexes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export interface Ctx {
  req: IncomingMessage;
  /** Null on an upgrade request (attach and exec start with `Upgrade: tcp`). */
  res: ServerResponse | null;
  upgrade: { socket: Duplex; head: Buffer } | null;
  params: Record<string, string>;
  query: URLSearchParams;
}

export type Handler = (ctx: Ctx) => Promise<void> | void;

export interface Route {
  method: string;
  /** e.g. `/containers/{id}/logs`, `/images/{name*}/json`. */
  path: string;
  handler: Handler;
  /** The handler also serves hijacked (101) requests. */
  upgrade?: boolean;
  /** The handler reads the body; otherwise the server discards it (keep-alive needs that). */
  body?: boolean;
}

interface Compiled extends Route {
  re: RegExp;
  names: string[];
}

const VERSION_RE = /^\/v\d+\.\d+(?=\/)/;

export class Router {
  private readonly routes: Compiled[] = [];

  add(routes: Route[]): this {
    for (const r of routes) {
      const names: string[] = [];
      const re = r.path.replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)(\*?)\}/g, (_, name: string, star: string) => {
        names.push(name);
        return star ? '(.+)' : '([^/]+)';
      });
      this.routes.push({ ...r, re: new RegExp(`^${re}$`), names });
    }
    return this;
  }

  /** HEAD falls back to the GET route. */
  match(method: string, rawPath: string): { route: Route; params: Record<string, string> } | null {
    const path = stripVersion(rawPath);
    const m = method === 'HEAD' ? ['HEAD', 'GET'] : [method];
    for (const want of m) {
      for (const r of this.routes) {
        if (r.method !== want) continue;
        const hit = r.re.exec(path);
        if (!hit) continue;
        const params: Record<string, string> = {};
        r.names.forEach((n, i) => (params[n] = safeDecode(hit[i + 1]!)));
        return { route: r, params };
      }
    }
    return null;
  }
}

export function stripVersion(path: string): string {
  return path.replace(VERSION_RE, '');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
