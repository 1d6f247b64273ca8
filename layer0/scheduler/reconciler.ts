// The leader's reconcile loop (STYLE.md §7): events (formation changes, hosts joining or lost,
// job containers starting or dying) only mark the world dirty; one pass at a time re-reads
// desired and observed state, calls the pure plan(), and applies its actions idempotently.
// A full resync runs every few seconds whatever happens.
import type { Logger } from '../common/logger.ts';
import type { AgentClient } from '../agent/client.ts';
import type { Discovery, Instance } from '../discovery/types.ts';
import { HOSTS_SERVICE } from '../discovery/types.ts';
import { agentFor, hostFromInstance, observeHost, startJob, stopJob } from './agents.ts';
import { plan, type Action } from './plan.ts';
import type { SchedulerStore } from './store.ts';
import type { Formation, HostInfo, Job } from './types.ts';

export interface ReconcilerOptions {
  store: SchedulerStore;
  discovery: Discovery;
  /** The cluster's agent token (TCP agents). */
  agentToken?: string;
  fencingToken: number;
  log: Logger;
  resyncMs?: number;
  observeTimeoutMs?: number;
}


const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`timed out after ${ms} ms`)), ms).unref())]);

export class Reconciler {
  private readonly hosts = new Map<string, HostInfo>();
  private readonly agents = new Map<string, AgentClient>();
  /** Last jobs seen per host: kept for hosts that are lost or cannot be reached. */
  private readonly lastJobs = new Map<string, Job[]>();
  private readonly lost = new Set<string>();
  /** Memory held per host by containers outside any formation (one-offs), as last observed. */
  private readonly reservedMemory = new Map<string, number>();
  private readonly stopping = new Set<string>();
  private pending: Job[] = [];
  private written = new Map<string, string>();
  private dirty = true;
  private running: Promise<void> | null = null;
  private readonly ac = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private readonly watchedHosts = new Set<string>();
  private readonly watchedServices = new Set<string>();

  constructor(private readonly o: ReconcilerOptions) {}

  async start(): Promise<void> {
    this.written = await this.o.store.currentJobJson();
    void this.watchHosts();
    this.timer = setInterval(() => this.kick(), this.o.resyncMs ?? 5000);
    this.timer.unref();
    this.kick();
  }

  /** Marks the world dirty; passes never overlap and coalesce bursts of events. */
  kick(): void {
    this.dirty = true;
    if (this.running || this.ac.signal.aborted) return;
    this.running = (async () => {
      while (this.dirty && !this.ac.signal.aborted) {
        this.dirty = false;
        try {
          await this.pass();
        } catch (err) {
          this.o.log.error({ err }, 'reconcile pass failed; retrying');
          await new Promise((r) => setTimeout(r, 500));
          this.dirty = true;
        }
      }
    })().finally(() => (this.running = null));
  }

  private async watchHosts(): Promise<void> {
    try {
      for await (const ev of this.o.discovery.watch(HOSTS_SERVICE, this.ac.signal)) {
        if (ev.type === 'current') {
          for (const i of ev.instances) this.hostUp(i);
        } else if (ev.type === 'down') {
          this.hosts.delete(ev.instance.id);
          this.agents.delete(ev.instance.id);
          this.lost.add(ev.instance.id);
          this.o.log.warn({ hostId: ev.instance.id }, 'host lost');
        } else this.hostUp(ev.instance);
        this.kick();
      }
    } catch (err) {
      if (!this.ac.signal.aborted) this.o.log.error({ err }, 'host watch ended');
    }
  }

  private hostUp(i: Instance): void {
    const h = hostFromInstance(i);
    this.hosts.set(h.id, h);
    this.lost.delete(h.id);
    const agent = agentFor(h, this.o.agentToken, this.o.fencingToken);
    this.agents.set(h.id, agent);
    // Fence at once: from now on this host refuses every older leader, even before we act there.
    agent.fence().catch((err: unknown) => this.o.log.warn({ hostId: h.id, err: (err as Error).message }, 'fencing the host failed'));
    if (!this.watchedHosts.has(h.id)) void this.watchAgentEvents(h.id);
  }

  /** Job containers dying or starting on a host wake the loop at once (no waiting for a resync). */
  private async watchAgentEvents(hostId: string): Promise<void> {
    this.watchedHosts.add(hostId);
    try {
      while (!this.ac.signal.aborted && this.hosts.has(hostId)) {
        const agent = this.agents.get(hostId)!;
        try {
          for await (const e of agent.events({ filters: { type: ['container'], label: ['slipway.formation'] }, signal: this.ac.signal })) {
            if (['start', 'die', 'destroy', 'oom'].includes(e.Action)) this.kick();
          }
        } catch {
          /* the agent restarted or is gone: retry below while the host is known */
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      this.watchedHosts.delete(hostId);
    }
  }

  /** A job passing its health check (registered) or leaving discovery changes listJobs at once. */
  private async watchService(service: string): Promise<void> {
    this.watchedServices.add(service);
    try {
      for await (const ev of this.o.discovery.watch(service, this.ac.signal)) if (ev.type !== 'current') this.kick();
    } catch (err) {
      if (!this.ac.signal.aborted) this.o.log.warn({ err, service }, 'service watch ended');
    } finally {
      this.watchedServices.delete(service);
    }
  }

  private async registeredIds(formations: Formation[]): Promise<Set<string>> {
    const services = new Set(formations.flatMap((f) => Object.values(f.jobs).map((j) => j.service).filter((s): s is string => !!s)));
    for (const s of services) if (!this.watchedServices.has(s)) void this.watchService(s);
    const ids = new Set<string>();
    await Promise.all([...services].map(async (s) => (await this.o.discovery.instances(s)).forEach((i) => ids.add(i.id))));
    return ids;
  }

  private async pass(): Promise<void> {
    const formations = await this.o.store.formations();
    const registered = await this.registeredIds(formations);
    const unreachable = new Set<string>();
    await Promise.all([...this.hosts.values()].map(async (h) => {
      try {
        const seen = await withTimeout(observeHost(this.agents.get(h.id)!, h, registered), this.o.observeTimeoutMs ?? 5000);
        this.lastJobs.set(h.id, seen.jobs);
        this.reservedMemory.set(h.id, seen.reservedMemory);
      } catch (err) {
        unreachable.add(h.id); // its last known jobs still count; nothing new goes there
        this.o.log.warn({ hostId: h.id, err: (err as Error).message }, 'cannot observe host');
      }
    }));
    const jobs: Job[] = [];
    for (const [hostId, list] of this.lastJobs) {
      for (const j of list) jobs.push(this.stopping.has(j.id) ? { ...j, state: 'stopping' } : j);
      if (!this.hosts.has(hostId) && !this.lost.has(hostId)) {
        this.lastJobs.delete(hostId);
        this.reservedMemory.delete(hostId);
      }
    }
    const actions = plan(formations, { hosts: [...this.hosts.values()], jobs: [...jobs, ...this.pending], lostHostIds: this.lost, drainingHostIds: unreachable, reservedMemory: this.reservedMemory });
    if (actions.length) this.o.log.debug({ actions: actions.map((a) => a.type) }, 'reconcile');
    await this.apply(actions, formations);
    this.written = await this.o.store.writeJobs(this.written, [...jobs.filter((j) => !this.lost.has(j.hostId!)), ...this.pending]);
  }

  private async apply(actions: Action[], formations: Formation[]): Promise<void> {
    const starts: Promise<void>[] = [];
    for (const a of actions) {
      if (a.type === 'pending') {
        this.pending = this.pending.filter((j) => !(j.formationId === a.formationId && j.jobName === a.jobName));
        for (let n = 0; n < a.count; n++) this.pending.push(pendingJob(a.formationId, a.jobName, n, a.reason, formations));
      } else if (a.type === 'start') {
        const agent = this.agents.get(a.hostId);
        if (!agent) continue;
        starts.push(startJob(agent, a.formationId, a.jobName, a.spec, a.index).then(
          (id) => this.o.log.info({ id, hostId: a.hostId, formation: a.formationId, job: a.jobName }, 'job started'),
          (err: unknown) => {
            this.o.log.warn({ err: (err as Error).message, hostId: a.hostId, formation: a.formationId }, 'job start failed');
            this.dirty = true;
          },
        ));
      } else if (a.reason === 'host_lost') {
        // Its host is gone: forget the record; if the host comes back, the job is surplus then.
        const list = this.lastJobs.get(a.hostId);
        if (list) this.lastJobs.set(a.hostId, list.filter((j) => j.id !== a.jobId));
      } else if (!this.stopping.has(a.jobId)) {
        const agent = this.agents.get(a.hostId);
        if (!agent) continue;
        this.stopping.add(a.jobId);
        void stopJob(agent, a.jobId)
          .catch((err: unknown) => this.o.log.warn({ err: (err as Error).message, jobId: a.jobId }, 'job stop failed'))
          .finally(() => {
            this.stopping.delete(a.jobId);
            this.kick();
          });
      }
    }
    await Promise.all(starts);
  }

  async stop(): Promise<void> {
    this.ac.abort();
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}

function pendingJob(formationId: string, jobName: string, n: number, reason: string, formations: Formation[]): Job {
  return {
    id: `pending:${formationId}:${jobName}:${n}`,
    formationId, jobName, hostId: null, state: 'pending', reason,
    restartCount: 0, exitCode: null, ports: {}, registered: false,
    labels: formations.find((f) => f.id === formationId)?.jobs[jobName]?.labels ?? {},
    createdAt: new Date().toISOString(),
  };
}
