// Per-app counters for the admin port's /metrics (Prometheus text format 0.0.4): requests by
// status class and a latency histogram. Updated once per request with a few array writes.

/** Latency bucket bounds, seconds. */
const BOUNDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

class AppStats {
  readonly classes = [0, 0, 0, 0, 0];
  /** Non-cumulative counts per bucket; the last one is +Inf. */
  readonly buckets = new Array<number>(BOUNDS.length + 1).fill(0);
  sum = 0;
  count = 0;
}

function label(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

export class Metrics {
  private readonly apps = new Map<string, AppStats>();
  /** Requests the router answered without an app (unknown host, bad request). */
  unrouted = 0;
  readonly errors = new Map<string, number>();
  openConnections = 0;
  upgraded = 0;

  record(app: string | null, status: number, seconds: number, error: string | undefined): void {
    if (error !== undefined) this.errors.set(error, (this.errors.get(error) ?? 0) + 1);
    if (app === null) {
      this.unrouted++;
      return;
    }
    let s = this.apps.get(app);
    if (s === undefined) this.apps.set(app, (s = new AppStats()));
    const c = ((status / 100) | 0) - 1;
    if (c >= 0 && c < 5) s.classes[c]++;
    let b = 0;
    while (b < BOUNDS.length && seconds > BOUNDS[b]) b++;
    s.buckets[b]++;
    s.sum += seconds;
    s.count++;
  }

  text(pool: { idle: number; active: number }): string {
    const out: string[] = [];
    out.push('# HELP slipway_router_requests_total Requests per app and status class.', '# TYPE slipway_router_requests_total counter');
    for (const [app, s] of this.apps) {
      for (let c = 0; c < 5; c++) out.push(`slipway_router_requests_total{app="${label(app)}",class="${CLASSES[c]}"} ${s.classes[c]}`);
    }
    out.push('# HELP slipway_router_request_duration_seconds Time from the request head to the response end.', '# TYPE slipway_router_request_duration_seconds histogram');
    for (const [app, s] of this.apps) {
      const a = label(app);
      let cum = 0;
      for (let b = 0; b < BOUNDS.length; b++) {
        cum += s.buckets[b];
        out.push(`slipway_router_request_duration_seconds_bucket{app="${a}",le="${BOUNDS[b]}"} ${cum}`);
      }
      out.push(`slipway_router_request_duration_seconds_bucket{app="${a}",le="+Inf"} ${s.count}`);
      out.push(`slipway_router_request_duration_seconds_sum{app="${a}"} ${s.sum}`);
      out.push(`slipway_router_request_duration_seconds_count{app="${a}"} ${s.count}`);
    }
    out.push('# HELP slipway_router_unrouted_requests_total Requests answered without an app (unknown host, bad request).', '# TYPE slipway_router_unrouted_requests_total counter');
    out.push(`slipway_router_unrouted_requests_total ${this.unrouted}`);
    out.push('# HELP slipway_router_errors_total Answers the router made itself, by cause.', '# TYPE slipway_router_errors_total counter');
    for (const [e, n] of this.errors) out.push(`slipway_router_errors_total{cause="${label(e)}"} ${n}`);
    out.push('# HELP slipway_router_client_connections Open client connections.', '# TYPE slipway_router_client_connections gauge');
    out.push(`slipway_router_client_connections ${this.openConnections}`);
    out.push('# HELP slipway_router_backend_connections Backend connections by state.', '# TYPE slipway_router_backend_connections gauge');
    out.push(`slipway_router_backend_connections{state="idle"} ${pool.idle}`, `slipway_router_backend_connections{state="active"} ${pool.active}`);
    return out.join('\n') + '\n';
  }
}
