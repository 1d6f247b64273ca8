// Prometheus text at `GET /metrics` (public, counts only: no app names, no secrets): the API's
// requests by method and status class, a latency histogram, and open streams (logs, events).
import type { Middleware } from 'koa';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function prometheus(): Middleware {
  const requests = new Map<string, number>();
  const hist = new Array<number>(BUCKETS.length + 1).fill(0);
  let sum = 0;
  let count = 0;
  let open = 0;
  const started = Date.now();
  const text = () => {
    const out = [
      '# HELP slipway_controller_requests_total API requests by method and status class.', '# TYPE slipway_controller_requests_total counter',
      ...[...requests].map(([k, v]) => `slipway_controller_requests_total{${k}} ${v}`),
      '# HELP slipway_controller_request_duration_seconds Time to the response head (streams: to their start).', '# TYPE slipway_controller_request_duration_seconds histogram',
    ];
    let cum = 0;
    BUCKETS.forEach((b, i) => out.push(`slipway_controller_request_duration_seconds_bucket{le="${b}"} ${(cum += hist[i]!)}`));
    out.push(`slipway_controller_request_duration_seconds_bucket{le="+Inf"} ${count}`, `slipway_controller_request_duration_seconds_sum ${sum}`, `slipway_controller_request_duration_seconds_count ${count}`);
    out.push('# HELP slipway_controller_open_requests Requests in progress (open streams included).', '# TYPE slipway_controller_open_requests gauge', `slipway_controller_open_requests ${open}`);
    out.push('# HELP slipway_controller_uptime_seconds Seconds since start.', '# TYPE slipway_controller_uptime_seconds gauge', `slipway_controller_uptime_seconds ${Math.round((Date.now() - started) / 1000)}`);
    return `${out.join('\n')}\n`;
  };
  return async (ctx, next) => {
    if (ctx.path === '/metrics' && ctx.method === 'GET') {
      ctx.type = 'text/plain; version=0.0.4; charset=utf-8';
      ctx.body = text();
      return;
    }
    const t0 = performance.now();
    open++;
    ctx.res.once('close', () => open--);
    try {
      await next();
    } finally {
      const s = (performance.now() - t0) / 1000;
      const i = BUCKETS.findIndex((b) => s <= b);
      hist[i < 0 ? BUCKETS.length : i]!++;
      sum += s;
      count++;
      const key = `method="${ctx.method}",class="${Math.floor((ctx.status || 500) / 100)}xx"`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
    }
  };
}
