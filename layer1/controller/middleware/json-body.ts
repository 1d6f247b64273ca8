// The request body as JSON, at most `limit` bytes (1 MiB by default): larger is 413
// `payload_too_large` (refused from Content-Length before reading when declared), unparsable
// is 400 `invalid_json`. An empty body leaves `ctx.state.json` undefined.
import type { Middleware } from 'koa';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { ControllerState } from '../http/route.ts';

export const BODY_LIMIT = 1024 * 1024;

export function jsonBody(limit = BODY_LIMIT): Middleware<ControllerState> {
  return async (ctx, next) => {
    const encoding = ctx.get('Content-Encoding').toLowerCase();
    if (encoding && encoding !== 'identity') {
      ctx.req.resume();
      throw new SlipwayError('invalid_json', `Content-Encoding ${encoding} is not accepted: send plain JSON`);
    }
    const raw = await readBody(ctx.req, limit, Number(ctx.get('Content-Length') || NaN));
    if (raw.length > 0) {
      try {
        ctx.state.json = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        throw new SlipwayError('invalid_json', `the body is not valid JSON: ${(err as Error).message}`);
      }
    }
    await next();
  };
}

function tooLarge(limit: number): SlipwayError {
  return new SlipwayError('payload_too_large', `the body exceeds ${limit} bytes`);
}

function readBody(req: NodeJS.ReadableStream & { resume(): unknown }, limit: number, declared: number): Promise<Buffer> {
  // Refused bodies are drained, not left unread, so the client still gets the 413.
  if (declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(tooLarge(limit));
      } else chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
