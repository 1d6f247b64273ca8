// The response head of a long-lived stream (SSE, NDJSON follow, one-off output): no socket
// timeout, no Nagle delay, not stored by any cache (app data; a stream is never reusable), no
// buffering by a proxy in front. Any Koa context: the controller's and the dashboard's.
import type { ParameterizedContext } from 'koa';

export function streamHead(ctx: Pick<ParameterizedContext, 'req' | 'type' | 'set'>, type: 'text/event-stream' | 'application/x-ndjson'): void {
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.type = type;
  ctx.set('Cache-Control', 'no-store, no-transform');
  ctx.set('X-Accel-Buffering', 'no');
}
