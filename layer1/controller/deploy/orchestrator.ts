// The deploy orchestrator: runs each app's rollouts one at a time (a per-app worker over the
// Redis queue in store.ts; a newer change supersedes a queued one), stepping the app's layer-0
// formation with rollout-plan.ts until the new processes serve, or putting the previous one back.
// releases.ts queues work and calls kick(); start() resumes what a stopped controller left.
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { silentLogger, type Logger } from '../../../layer0/common/logger.ts';
import type { Discovery } from '../../../layer0/discovery/index.ts';
import type { FormationInput, Job, JobSpec, SchedulerClient } from '../../../layer0/scheduler/index.ts';
import { DEFAULT_HEALTH_TIMEOUT_MS, formationId, LABEL_APP, LABEL_APP_ID, processSpecs, type SpecOptions } from './formation.ts';
import { lastOutput } from './job-output.ts';
import { acquireLease, type Lease } from './lease.ts';
import { diffGroups, leftovers, planStep, type RolloutGroup, type StepFailure } from './rollout-plan.ts';
import type { DeployStore } from './store.ts';
import type { AppRef, DeployedState, Deployment, Failure } from './types.ts';

export interface OrchestratorOptions extends SpecOptions {
  /** A rollout fails when no new process got healthy for this long (default 60 s). */
  timeoutMs?: number;
  /** A process without a service is healthy after running this long without a restart (default 3 s). */
  stableMs?: number;
  /** How often a rollout looks at the jobs (default 250 ms). */
  pollMs?: number;
  /** Full resync of queued work (default 30 s). */
  resyncMs?: number;
  /** Lines of a failed process's output kept in the deployment record (default 20). */
  outputLines?: number;
  /** The per-app lease that keeps other controllers off an app's rollouts while this one runs them (default 15 s). */
  leaseMs?: number;
}

export interface OrchestratorDeps {
  store: DeployStore;
  scheduler: SchedulerClient;
  /** With discovery (and the agents' token for TCP agents), a failure records the process's last output. */
  discovery?: Discovery;
  agentToken?: string;
  log?: Logger;
  options?: OrchestratorOptions;
}

export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** `ended` (default): succeeded or failed; `serving`: also once its new processes serve. */
  until?: 'ended' | 'serving';
  onPoll?(d: Deployment): void | Promise<void>;
}

/** The deployment log line that says every new process is healthy (the rest is the old ones' drain). */
const SERVING_MARK = 'serving:';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

export class Orchestrator {
  private readonly workers = new Map<string, { again: boolean; abort: AbortController; done: Promise<void> }>();
  private readonly opts: Required<Pick<OrchestratorOptions, 'timeoutMs' | 'stableMs' | 'pollMs' | 'resyncMs' | 'outputLines' | 'leaseMs'>> & SpecOptions;
  private readonly log: Logger;
  private resync: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly d: OrchestratorDeps) {
    const o = d.options ?? {};
    this.opts = { ...o, timeoutMs: o.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS, stableMs: o.stableMs ?? 3000, pollMs: o.pollMs ?? 250, resyncMs: o.resyncMs ?? 30_000, outputLines: o.outputLines ?? 20, leaseMs: o.leaseMs ?? 15_000 };
    this.opts.healthTimeoutMs ??= this.opts.timeoutMs;
    this.log = d.log ?? silentLogger;
  }

  /** Resumes every app with queued or interrupted rollouts, and again every resyncMs. */
  async start(): Promise<void> {
    const sync = async () => {
      for (const app of await this.d.store.pendingApps()) this.kick(app);
    };
    await sync();
    this.resync = setInterval(() => void sync().catch((err: unknown) => this.log.warn({ err }, 'deploy resync failed')), this.opts.resyncMs);
    this.resync.unref();
  }

  /** Makes sure the app's worker runs (one per app; a kick while it runs makes it look again). */
  kick(app: AppRef): void {
    if (this.closed) return;
    const w = this.workers.get(app.id);
    if (w) {
      w.again = true;
      return;
    }
    const worker = { again: false, abort: new AbortController(), done: Promise.resolve() };
    this.workers.set(app.id, worker);
    worker.done = (async () => {
      const lease = await this.lease(app, worker.abort.signal).catch((err: unknown) => {
        this.log.warn({ err, app: app.name }, 'taking the rollout lease failed; the resync retries');
        return null;
      });
      if (!lease) {
        this.workers.delete(app.id);
        return;
      }
      // Lost to another controller (or to a long Redis outage): stop; the holder resumes the work.
      const onLost = () => worker.abort.abort();
      lease.lost.addEventListener('abort', onLost, { once: true });
      try {
        do {
          worker.again = false;
          for (;;) {
            if (worker.abort.signal.aborted) return;
            const id = await this.d.store.startNext(app);
            if (!id) break;
            await this.run(app, id, worker.abort.signal);
          }
        } while (worker.again && !worker.abort.signal.aborted);
      } catch (err) {
        this.log.error({ err, app: app.name }, 'deploy worker failed; the resync retries');
      } finally {
        lease.lost.removeEventListener('abort', onLost);
        await lease.release();
        this.workers.delete(app.id);
      }
    })();
  }

  /**
   * The app's rollout lease; while another controller holds it and the app has queued work, wait
   * for it (the holder may be just finishing), so queued work never waits for a resync. Null: the
   * holder took the work, or this worker was stopped.
   */
  private async lease(app: AppRef, signal: AbortSignal): Promise<Lease | null> {
    const key = this.d.store.key(app.id, 'rollout-lease');
    for (;;) {
      const lease = await acquireLease(this.d.store.redis, key, this.opts.leaseMs);
      if (lease || signal.aborted || this.closed || !(await this.d.store.hasPending(app.id))) return lease;
      await sleep(Math.min(500, this.opts.leaseMs / 3), signal);
    }
  }

  /** Stops the app's worker (before the app is destroyed) and waits for it. */
  async stopApp(appId: string): Promise<void> {
    const w = this.workers.get(appId);
    if (!w) return;
    w.abort.abort();
    await w.done;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.resync) clearInterval(this.resync);
    const all = [...this.workers.values()];
    for (const w of all) w.abort.abort();
    await Promise.all(all.map((w) => w.done));
  }

  /** Whether the app's worker is idle (nothing queued or running in this process). */
  idle(appId: string): boolean {
    return !this.workers.has(appId);
  }

  private async run(queuedAs: AppRef, id: string, signal: AbortSignal): Promise<void> {
    const { store, scheduler } = this.d;
    const dep = await store.getDeployment(queuedAs.id, id);
    if (!dep) throw new SlipwayError('internal_error', `deployment ${id} of ${queuedAs.name} vanished`);
    const app: AppRef = { id: dep.appId, name: dep.app };
    const say = (line: string) => store.appendLog(app.id, id, line);
    const deployed = await store.getDeployed(app.id);
    let to = dep.to;
    let release = to === null ? null : await store.getRelease(app.id, to);
    if (release?.status === 'failed' && dep.kind !== 'release' && dep.kind !== 'config' && dep.kind !== 'rollback') {
      // A scale or restart queued behind a release that then failed applies to the running one.
      await say(`v${to} failed meanwhile; applying to v${deployed.release ?? '-'} instead`);
      to = deployed.release;
      release = to === null ? null : await store.getRelease(app.id, to);
      await store.setDeploymentTo(app.id, id, to);
    }
    const target = release ? processSpecs(app, release, await store.getFormation(app.id), await store.getRestarts(app.id), this.opts) : {};
    const groups = diffGroups(deployed.groups, target, id);
    await say(`${dep.kind}: v${deployed.release ?? '-'} → v${to ?? '-'} (${dep.strategy}); ${describe(groups)}`);
    const fid = formationId(app);
    const put = (jobs: Record<string, JobSpec>) => scheduler.putFormation({ id: fid, jobs, labels: { [LABEL_APP]: app.name, [LABEL_APP_ID]: app.id } } satisfies FormationInput);

    let lastPut = '';
    let healthy = -1;
    let progressAt = Date.now();
    let failure: StepFailure | null = null;
    let failedJob: Job | null = null;
    let jobs: Job[] = [];
    for (;;) {
      if (signal.aborted) return; // destroyed or closing: the next start resumes it
      jobs = await scheduler.listJobs({ formationId: fid });
      const now = Date.now();
      const step = planStep({ groups, strategy: dep.strategy, jobs, now, progressAt, timeoutMs: this.opts.timeoutMs, stableMs: this.opts.stableMs });
      if (step.failure) {
        failure = step.failure;
        failedJob = jobs.find((j) => j.id === step.failure!.jobId) ?? null;
        break;
      }
      const want = JSON.stringify(step.jobs);
      if (want !== lastPut) {
        try {
          await put(step.jobs);
        } catch (err) {
          failure = { check: 'formation', type: '', jobId: null, message: `layer 0 refused the formation: ${(err as Error).message}` };
          break;
        }
        lastPut = want;
      }
      if (step.healthy > healthy) {
        if (healthy >= 0) progressAt = now;
        healthy = step.healthy;
        await say(Object.entries(step.progress).map(([t, p]) => `${t} ${p.healthy}/${p.want}`).join(', ') || 'no processes');
      }
      if (step.done) break;
      await sleep(this.opts.pollMs, signal);
    }

    if (!failure) {
      const state: DeployedState = { release: to, deploymentId: id, groups: Object.fromEntries(groups.flatMap((g) => (g.to ? [[g.type, g.to]] : []))) };
      // The new release serves from here on (it is the current one, e.g. for a rollback's target); a
      // push may return now: what is left is the old processes' drain.
      await store.serving(app.id, state, to !== null && to !== deployed.release ? to : null);
      // A process type that left the Procfile is scaled to 0 (DESIGN.md): it does not come back by
      // itself when a later release has it again.
      if (release) await store.zeroMissingTypes(app.id, Object.keys(release.procfile));
      await say(`${SERVING_MARK} v${to ?? '-'}; stopping the replaced processes`);
      await this.drained(fid, groups, signal);
      await say(`succeeded: v${to ?? '-'} runs`);
      await store.finish(app, id, { state: 'succeeded', from: deployed.release });
      return;
    }

    const output = failedJob ? await lastOutput(this.d, failedJob, this.opts.outputLines) : [];
    const back = Object.fromEntries(Object.values(deployed.groups).map((g) => [g.job, g.spec]));
    const rec: Failure = { check: failure.check, type: failure.type || null, message: `${failure.message}; ${deployed.release ? `rolled back to v${deployed.release}` : 'nothing was running before, so nothing runs now'}`, output };
    await say(`failed: ${failure.message}`);
    if (output.length) await say(`last output of ${failedJob!.id.slice(0, 12)}:\n${output.join('\n')}`);
    try {
      await put(back);
      await say(`put back v${deployed.release ?? '-'}`);
    } catch (err) {
      await say(`could not put back v${deployed.release ?? '-'}: ${(err as Error).message}`);
    }
    const releaseChanged = to !== null && to !== deployed.release;
    await store.finish(app, id, {
      state: 'failed',
      from: deployed.release,
      failure: rec,
      ...(releaseChanged ? { releaseStatus: { version: to!, status: 'failed' as const, failure: rec }, resetDesired: { from: to!, to: deployed.release } } : {}),
    });
    this.log.info({ app: app.name, deployment: id, failure: rec.message }, 'rollout failed; previous release put back');
  }

  /** Waits (bounded by the drain and stop grace) until the replaced processes are gone. */
  private async drained(fid: string, groups: RolloutGroup[], signal: AbortSignal): Promise<void> {
    const end = Date.now() + ((this.opts.drainSec ?? 5) + (this.opts.stopGraceSec ?? 30)) * 1000 + 10_000;
    while (Date.now() < end && !signal.aborted) {
      const left = leftovers(groups, await this.d.scheduler.listJobs({ formationId: fid }));
      if (left.length === 0) return;
      await sleep(this.opts.pollMs, signal);
    }
  }

  /**
   * Waits for a deployment to end, following the ones that superseded it; with `until: 'serving'`,
   * only until its new processes serve (store.serving(): the rest is the old ones' drain).
   * `onPoll` sees the deployment at every look (a follower printing its log).
   */
  async wait(appId: string, id: string, o: WaitOptions = {}): Promise<Deployment> {
    const end = Date.now() + (o.timeoutMs ?? 300_000);
    let cur = id;
    for (;;) {
      const d = await this.d.store.getDeployment(appId, cur);
      if (!d) throw new SlipwayError('not_found', `no deployment ${cur}`);
      await o.onPoll?.(d);
      if (d.state === 'superseded' && d.supersededBy) cur = d.supersededBy;
      else if (d.state === 'succeeded' || d.state === 'failed') return d;
      else if (o.until === 'serving' && d.state === 'running' && (await this.d.store.getDeployed(appId)).deploymentId === cur) return d;
      else if (Date.now() > end) throw new SlipwayError('unavailable', `deployment ${cur} still ${d.state}`);
      else await sleep(this.opts.pollMs, o.signal);
      if (o.signal?.aborted) throw new SlipwayError('unavailable', 'aborted');
    }
  }
}

function describe(groups: RolloutGroup[]): string {
  if (!groups.length) return 'no processes';
  return groups
    .map((g) => {
      const from = g.from ? `${g.from.spec.count}` : '0';
      const to = g.to ? `${g.to.spec.count}` : '0';
      return `${g.type} ${from} → ${to}${g.fresh ? ' (new processes)' : ''}`;
    })
    .join(', ');
}
