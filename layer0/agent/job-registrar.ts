// Health-gated service registration of scheduled jobs: a container labelled with a service is
// registered in discovery (addr = the host's address and the job's published port) once a TCP
// connect to that port succeeds (and, for an `http` check, a GET answers below 500),
// deregistered the moment it dies, and deregistered then drained before a stop, so the router
// stops sending it requests first.
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { Logger } from '../common/logger.ts';
import type { Discovery, Registration } from '../discovery/types.ts';
import type { ContainerRecord, ContainerRuntime } from '../runtime/types.ts';
import { JOB_LABELS } from './types.ts';

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_INTERVAL_MS = 500;

export interface RegistrarOptions {
  runtime: ContainerRuntime;
  discovery: Discovery;
  hostId: string;
  /** The address other hosts and routers use to reach this host's published ports. */
  address: string;
  log: Logger;
  ttlMs?: number;
  heartbeatMs?: number;
}

function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** `GET path` answered with a status below 500 (any body, read and dropped). */
function httpOk(host: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ host, port, path, method: 'GET', agent: false, headers: { 'user-agent': 'slipway-health', connection: 'close' } }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 500);
    });
    req.setTimeout(timeoutMs, () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

export class JobRegistrar {
  private readonly regs = new Map<string, Registration>();
  /** Container id → the run (startedAt) a health check is under way for. */
  private readonly checking = new Map<string, string>();
  private unsubscribe: (() => void) | null = null;
  private closed = false;

  constructor(private readonly o: RegistrarOptions) {}

  start(): void {
    this.unsubscribe = this.o.runtime.onEvent((e) => {
      if (e.type !== 'container') return;
      if (e.action === 'start') void this.check(e.id);
      else if (e.action === 'die' || e.action === 'destroy') void this.deregister(e.id);
    });
    for (const rec of this.o.runtime.list()) if (rec.state.status === 'running') void this.check(rec.id);
  }

  isRegistered(id: string): boolean {
    return this.regs.has(id);
  }

  private async check(id: string): Promise<void> {
    let rec: ContainerRecord;
    try {
      rec = this.o.runtime.get(id);
    } catch {
      return;
    }
    const service = rec.spec.labels[JOB_LABELS.service];
    if (!service || rec.state.status !== 'running') return;
    const run = rec.state.startedAt ?? '';
    if (this.checking.get(id) === run) return;
    this.checking.set(id, run);
    const port = rec.network?.ports.find((p) => p.protocol === 'tcp');
    if (!port) {
      this.o.log.warn({ id, service }, 'a job with a service needs a published tcp port; not registered');
      return;
    }
    const timeoutMs = Number(rec.spec.labels[JOB_LABELS.healthTimeoutMs]) || DEFAULT_TIMEOUT_MS;
    const intervalMs = Number(rec.spec.labels[JOB_LABELS.healthIntervalMs]) || DEFAULT_INTERVAL_MS;
    const deadline = Date.now() + timeoutMs;
    const sameRun = () => {
      const r = this.o.runtime.list().find((c) => c.id === id);
      return !this.closed && r?.state.status === 'running' && r.state.startedAt === run;
    };
    try {
      while (sameRun()) {
        const probeMs = Math.min(1000, intervalMs * 2);
        const path = rec.spec.labels[JOB_LABELS.health] === 'http' ? (rec.spec.labels[JOB_LABELS.healthPath] ?? '/') : null;
        if ((await tcpOpen(this.o.address, port.hostPort, probeMs)) && (path === null || (await httpOk(this.o.address, port.hostPort, path, Math.max(probeMs, 2000))))) {
          if (!sameRun()) return;
          const addr = `${this.o.address}:${port.hostPort}`;
          const meta = { ...rec.spec.labels, hostId: this.o.hostId, containerId: id };
          await this.regs.get(id)?.deregister();
          this.regs.set(id, await this.o.discovery.register(service, { id, addr, meta }, { ttlMs: this.o.ttlMs, heartbeatMs: this.o.heartbeatMs }));
          this.o.log.info({ id, service, addr }, 'job healthy: registered');
          return;
        }
        if (Date.now() > deadline) {
          this.o.log.warn({ id, service, port: port.hostPort, timeoutMs }, 'health check timed out: job not registered');
          return;
        }
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    } catch (err) {
      this.o.log.error({ err, id, service }, 'registering a job failed');
    } finally {
      if (this.checking.get(id) === run) this.checking.delete(id);
    }
  }

  async deregister(id: string): Promise<boolean> {
    const reg = this.regs.get(id);
    if (!reg) return false;
    this.regs.delete(id);
    await reg.deregister().catch((err: unknown) => this.o.log.warn({ err, id }, 'deregistering a job failed'));
    return true;
  }

  /** Before a stop: deregister, then let in-flight requests finish for the job's drain period. */
  async drain(id: string): Promise<void> {
    if (!(await this.deregister(id))) return;
    let drainSec = 5;
    try {
      const v = this.o.runtime.get(id).spec.labels[JOB_LABELS.drainSec];
      if (v !== undefined && Number.isFinite(Number(v))) drainSec = Number(v);
    } catch {
      return;
    }
    if (drainSec > 0) await new Promise((r) => setTimeout(r, drainSec * 1000));
  }

  /** Stops watching; registrations are left to the discovery client's close (their heartbeats stop
   *  and they expire after the TTL unless a restarted agent registers them again). */
  close(): void {
    this.closed = true;
    this.unsubscribe?.();
  }
}
