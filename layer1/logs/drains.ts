// Drains: an app's log stream sent on to a syslog server (RFC 5424 over TCP, octet-counted
// framing, RFC 6587 §3.4.1) or an HTTP(S) endpoint (POSTed NDJSON batches). One sender per
// drain in the cluster (a lease in Redis), reading from a cursor in Redis; failures retry with
// exponential back-off; a drain that falls more than `maxBacklog` lines behind skips ahead.
// A drain's address passes the URL policy (layer0/common/url-policy.ts) when it is added and
// again at every connect (M6): no loopback, link-local or private address unless SLIPWAY_URL_ALLOW.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, isIP, type Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../layer0/common/logger.ts';
import { addressAllowed, policyLookup, urlPolicy, type UrlPolicy } from '../../layer0/common/url-policy.ts';
import { toLogLine } from './entries.ts';
import type { Drain, LogKeys, LogLine } from './types.ts';

const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
let caCache: string[] | null = null;
/** Node's roots plus the host's bundle (the machine adds its own authorities there). */
function trustedCAs(): string[] {
  if (caCache) return caCache;
  let host: string[] = [];
  try {
    host = [readFileSync(process.env.SLIPWAY_CA_BUNDLE ?? HOST_CA_BUNDLE, 'utf8')];
  } catch { /* no bundle: Node's roots */ }
  return (caCache = [...rootCertificates, ...host]);
}

/** One RFC 5424 message: `<PRI>1 TIME HOST APP PROCID MSGID - MSG`, framed `LEN SP MSG`. */
export function syslogFrame(l: LogLine, appName: string): string {
  const severity = l.stream === 'stderr' ? 3 : 6;
  const pri = 1 * 8 + severity; // facility user
  const time = l.time.replace(/(\.\d{6})\d*Z$/, '$1Z'); // RFC 5424 allows at most 6 fraction digits
  const field = (s: string | undefined, max: number) => (s ? s.replace(/[^\x21-\x7e]/g, '_').slice(0, max) : '-');
  const msg = `<${pri}>1 ${time} ${field(appName, 255)} ${field(l.source, 48)} ${field(l.process, 128)} - - ${l.message}`;
  return `${Buffer.byteLength(msg)} ${msg}`;
}

/** The schemes a drain may use; the policy is made per use, so SLIPWAY_URL_ALLOW is read as it is now. */
export const DRAIN_SCHEMES = ['syslog', 'syslog+tcp', 'http', 'https'] as const;
export const drainPolicy = (): UrlPolicy => urlPolicy(DRAIN_SCHEMES);

/**
 * Refuses a host the policy does not let drains reach. A name is checked by `policyLookup` as the
 * socket resolves it; an address literal never goes through a lookup, so it is checked here.
 */
function checkLiteral(host: string, policy: UrlPolicy): void {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (isIP(h) && !policy.allowHosts.has(h) && !addressAllowed(h, policy)) {
    throw new Error(`drain address ${h} is loopback, link-local or private, which tenants may not reach`);
  }
}

export function drainKind(url: string): 'syslog' | 'http' | null {
  try {
    const u = new URL(url);
    if (u.protocol === 'syslog:' || u.protocol === 'syslog+tcp:') return u.hostname && u.port ? 'syslog' : null;
    if (u.protocol === 'http:' || u.protocol === 'https:') return 'http';
  } catch { /* not a URL */ }
  return null;
}

function postBatch(url: string, body: string, timeoutMs: number, policy: UrlPolicy): Promise<void> {
  const u = new URL(url);
  checkLiteral(u.hostname, policy);
  const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = { 'content-type': 'application/x-ndjson', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'slipway-drain' };
  if (u.username) headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const r = req(u, { method: 'POST', headers, timeout: timeoutMs, lookup: policyLookup(policy), ...(u.protocol === 'https:' ? { ca: trustedCAs() } : {}) }, (res) => {
      res.resume();
      res.on('end', () => ((res.statusCode ?? 500) < 300 ? resolve() : reject(new Error(`drain answered ${res.statusCode}`))));
    });
    r.on('timeout', () => r.destroy(new Error('drain timed out')));
    r.on('error', reject);
    r.end(body);
  });
}

class SyslogConn {
  private sock: Socket | null = null;
  constructor(private readonly host: string, private readonly port: number, private readonly policy: UrlPolicy) {}
  private open(): Promise<Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    return new Promise((resolve, reject) => {
      checkLiteral(this.host, this.policy);
      const s = connect({ host: this.host, port: this.port, timeout: 5000, lookup: policyLookup(this.policy) });
      s.once('connect', () => {
        s.setTimeout(0);
        s.on('error', () => s.destroy());
        s.on('close', () => this.sock === s && (this.sock = null));
        s.resume(); // nothing is expected back
        this.sock = s;
        resolve(s);
      });
      s.once('timeout', () => s.destroy(new Error('syslog connect timed out')));
      s.once('error', reject);
    });
  }
  async send(frames: string): Promise<void> {
    const s = await this.open();
    await new Promise<void>((resolve, reject) => s.write(frames, (err) => (err ? reject(err) : resolve())));
  }
  close() {
    this.sock?.destroy();
  }
}

interface DrainState {
  backoffMs: number;
  retryAt: number;
  conn: SyslogConn | null;
}

export interface DrainSenderOptions {
  intervalMs?: number;
  batch?: number;
  maxBacklog?: number;
  leaseMs?: number;
}

export class DrainSender {
  private readonly owner = randomBytes(8).toString('hex');
  private readonly state = new Map<string, DrainState>();
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly o: Required<DrainSenderOptions>;
  readonly stats = { sent: 0, failed: 0, skipped: 0 };

  constructor(private readonly redis: Redis, private readonly keys: LogKeys, private readonly log: Logger, o: DrainSenderOptions = {}) {
    this.o = { intervalMs: 500, batch: 500, maxBacklog: 10_000, leaseMs: 15_000, ...o };
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.tick().catch((err) => this.log.warn({ err }, 'drain round failed')).finally(() => (this.running = null));
    }, this.o.intervalMs);
    this.timer.unref();
  }

  private async lease(appId: string, drainId: string): Promise<boolean> {
    const key = this.keys.drainLease(appId, drainId);
    const got = await this.redis.set(key, this.owner, 'PX', this.o.leaseMs, 'NX');
    if (got) return true;
    if ((await this.redis.get(key)) !== this.owner) return false;
    await this.redis.pexpire(key, this.o.leaseMs);
    return true;
  }

  private async tick(): Promise<void> {
    const apps = await this.redis.smembers(this.keys.drainApps);
    const live = new Set<string>();
    for (const appId of apps) {
      if (this.closed) return;
      const drains = Object.values(await this.redis.hgetall(this.keys.drains(appId))).map((j) => JSON.parse(j) as Drain);
      if (!drains.length) {
        await this.redis.srem(this.keys.drainApps, appId);
        continue;
      }
      const name = (await this.redis.hget(this.keys.app(appId), 'name')) ?? appId;
      for (const d of drains) {
        const sk = `${appId} ${d.id}`;
        live.add(sk);
        let st = this.state.get(sk);
        if (!st) this.state.set(sk, (st = { backoffMs: 0, retryAt: 0, conn: null }));
        if (Date.now() < st.retryAt || !(await this.lease(appId, d.id))) continue;
        try {
          await this.sendSome(appId, name, d, st);
          st.backoffMs = 0;
        } catch (err) {
          this.stats.failed++;
          st.conn?.close();
          st.conn = null;
          st.backoffMs = Math.min(30_000, st.backoffMs ? st.backoffMs * 2 : 500);
          st.retryAt = Date.now() + st.backoffMs;
          this.log.warn({ err, app: appId, drain: d.id, retryMs: st.backoffMs }, 'drain delivery failed');
        }
      }
    }
    for (const [k, st] of this.state) if (!live.has(k)) {
      st.conn?.close();
      this.state.delete(k);
    }
  }

  private async sendSome(appId: string, appName: string, d: Drain, st: DrainState): Promise<void> {
    const key = this.keys.logs(appId);
    for (let round = 0; round < 20 && !this.closed; round++) {
      const cursor = (await this.redis.hget(this.keys.drainCursors(appId), d.id)) ?? '0-0';
      let rows = await this.redis.xrange(key, `(${cursor}`, '+', 'COUNT', this.o.batch);
      if (rows.length === this.o.batch) {
        // Bounded backlog: more than maxBacklog lines behind → go on from maxBacklog lines before the end.
        const behind = await this.redis.xrevrange(key, '+', `(${cursor}`, 'COUNT', this.o.maxBacklog + 1);
        if (behind.length > this.o.maxBacklog) {
          this.stats.skipped += behind.length - this.o.maxBacklog;
          this.log.warn({ app: appId, drain: d.id }, 'drain too far behind; skipping ahead');
          rows = await this.redis.xrange(key, `(${behind[behind.length - 1]![0]}`, '+', 'COUNT', this.o.batch);
        }
      }
      if (!rows.length) return;
      const lines = rows.map(([id, f]) => toLogLine(id, f));
      if (drainKind(d.url) === 'syslog') {
        const u = new URL(d.url);
        st.conn ??= new SyslogConn(u.hostname, Number(u.port), drainPolicy());
        await st.conn.send(lines.map((l) => syslogFrame(l, appName)).join(''));
      } else {
        await postBatch(d.url, lines.map((l) => JSON.stringify({ app: appName, ...l })).join('\n') + '\n', 10_000, drainPolicy());
      }
      this.stats.sent += lines.length;
      await this.redis.hset(this.keys.drainCursors(appId), d.id, rows[rows.length - 1]![0]);
      if (rows.length < this.o.batch) return;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
    for (const st of this.state.values()) st.conn?.close();
    const m = this.redis.multi();
    for (const k of this.state.keys()) {
      const [appId, id] = k.split(' ');
      m.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, this.keys.drainLease(appId!, id!), this.owner);
    }
    await m.exec().catch(() => undefined);
  }
}
