// The response head of a long-lived stream (SSE, NDJSON follow, one-off output): no socket
// timeout, no Nagle delay, no caching, no buffering by a proxy in front.
import type { Ctx } from './route.ts';

export function streamHead(ctx: Ctx, type: 'text/event-stream' | 'application/x-ndjson'): void {
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.type = type;
  ctx.set('Cache-Control', 'no-cache, no-transform');
  ctx.set('X-Accel-Buffering', 'no');
}
