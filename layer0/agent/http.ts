// Response helpers of the agent's edge: Docker's common headers, JSON bodies with exactly
// `application/json` (research trap 6), request bodies, and SlipwayError → Docker `{message}`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SlipwayError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';

export const API_VERSION = '1.50';
export const MIN_API_VERSION = '1.24';
export const ENGINE_VERSION = '0.1.0';

export const COMMON_HEADERS: Record<string, string> = {
  'Api-Version': API_VERSION,
  Server: `Slipway/${ENGINE_VERSION} (linux)`,
  Ostype: 'linux',
};

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
  res.end(payload);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': 0 });
  res.end();
}

/** The whole body as a Buffer, refusing more than `limit` bytes. */
export function readBody(req: IncomingMessage, limit = 16 << 20): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        reject(new SlipwayError('payload_too_large', 'request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Parses a JSON body; an empty body is `undefined`; bad JSON is a 400. */
export function parseJson(buf: Buffer): unknown {
  const text = buf.toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SlipwayError('invalid_json', `invalid JSON: ${(err as Error).message}`);
  }
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  return parseJson(await readBody(req));
}

/** Status and Docker message for anything thrown; unexpected errors get a generic text and a log line. */
export function errorReply(err: unknown, log: Logger, what: string): { status: number; message: string } {
  if (err instanceof SlipwayError) {
    if (err.status >= 500 && err.code !== 'runtime_error') {
      log.error({ err, cause: err.cause }, `${what} failed`);
      if (err.code === 'internal_error') return { status: 500, message: 'internal error' };
    } else if (err.status >= 500) log.warn({ err: err.message }, `${what} failed`);
    return { status: err.status, message: err.message };
  }
  const e = err as { name?: string; issues?: { path: PropertyKey[]; message: string }[] };
  if (e?.name === 'ZodError' && Array.isArray(e.issues)) {
    const msg = e.issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ');
    return { status: 400, message: `invalid parameters: ${msg}` };
  }
  log.error({ err }, `${what} failed`);
  return { status: 500, message: 'internal error' };
}
