// What the controller's routes call: releases from images, config changes, scaling, restarts and
// rollbacks. Each records its change (atomically numbered in store.ts) and queues a rollout that
// the orchestrator runs; reads of releases, deployments and events.
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { SchedulerClient } from '../../../layer0/scheduler/index.ts';
import { applyConfigChanges, applyScale, checkConfigSize, configMaxBytes, defaultEntry, validateConfigChanges } from './config.ts';
import { formationId } from './formation.ts';
import type { Orchestrator, WaitOptions } from './orchestrator.ts';
import { chooseRollbackTarget, type ReleaseSummary } from './rollback-target.ts';
import type { DeployStore } from './store.ts';
import {
  AppRefSchema,
  NewReleaseSchema,
  RELEASE_PHASE_TYPE,
  StrategySchema,
  type AppEvent,
  type AppFormation,
  type AppRef,
  type Config,
  type Deployment,
  type DeploymentKind,
  type Failure,
  type NewRelease,
  type Page,
  type Release,
  type Strategy,
} from './types.ts';

export interface ChangeBy {
  /** Who asked (a user name); recorded on the release and the deployment. */
  createdBy?: string;
  /** Replaces the generated reason (`Set FOO config var`, `Rollback to v3`). */
  reason?: string;
  strategy?: Strategy;
}

export interface Rollout {
  release: Release | null;
  /** The queued rollout; null when there is nothing to run yet (no release). */
  deployment: Deployment | null;
}

function ref(app: AppRef): AppRef {
  const r = AppRefSchema.safeParse(app);
  if (!r.success) throw new SlipwayError('invalid_params', `app: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** `7` or `v7` → 7; anything else → invalid_params. */
export function parseVersion(v: number | string): number {
  const m = typeof v === 'number' ? (Number.isInteger(v) ? [String(v), String(v)] : null) : /^v?(\d{1,9})$/.exec(v);
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isInteger(n) || n < 1) throw new SlipwayError('invalid_params', `version: ${JSON.stringify(String(v).slice(0, 20))} is not a release version like 7 or v7`);
  return n;
}

export class Releases {
  constructor(readonly store: DeployStore, readonly orchestrator: Orchestrator, readonly scheduler: SchedulerClient) {}

  private strategy(o: ChangeBy): Strategy {
    return StrategySchema.parse(o.strategy ?? 'rolling');
  }

  private async queued(app: AppRef, release: Release | null, id: string | null): Promise<Rollout> {
    if (id) this.orchestrator.kick(app);
    return { release, deployment: id ? await this.store.getDeployment(app.id, id) : null };
  }

  private async enqueue(app: AppRef, kind: DeploymentKind, reason: string, o: ChangeBy): Promise<Deployment | null> {
    const id = await this.store.enqueue(app, { kind, reason: o.reason ?? reason, createdBy: o.createdBy ?? 'unknown', strategy: this.strategy(o) });
    return (await this.queued(app, null, id)).deployment;
  }

  /** A release from an image already on the agents (or fetched from imageUrl), with the app's current config. */
  async createRelease(app: AppRef, input: NewRelease, o: Pick<ChangeBy, 'strategy'> & { hold?: boolean } = {}): Promise<Rollout> {
    app = ref(app);
    const parsed = NewReleaseSchema.safeParse(input);
    if (!parsed.success) throw new SlipwayError('invalid_params', `release: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
    const n = parsed.data;
    const { release, deploymentId } = await this.store.createRelease(
      app,
      { kind: 'release', reason: n.reason ?? `Deploy ${n.image}`, createdBy: n.createdBy, strategy: this.strategy(o) },
      { build: { image: n.image, imageUrl: n.imageUrl ?? null, imageParent: n.imageParent ?? null, build: n.build ?? null, healthchecks: n.healthchecks ?? {}, procfile: n.procfile } },
      o.hold === true,
    );
    return this.queued(app, release, deploymentId);
  }

  /** Rolls out a release made with `hold` (its release phase passed): it becomes the desired one. */
  async promoteRelease(app: AppRef, version: number, o: ChangeBy = {}): Promise<Rollout> {
    app = ref(app);
    const id = await this.store.promote(app, version, { kind: 'release', reason: o.reason ?? `Deploy v${version}`, createdBy: o.createdBy ?? 'unknown', strategy: this.strategy(o) });
    if (!id) throw new SlipwayError('conflict', `v${version} is not waiting for its release phase`);
    return this.queued(app, await this.store.getRelease(app.id, version), id);
  }

  /** A release made with `hold` whose release phase failed: recorded as failed, never rolled out. */
  failHeldRelease(app: AppRef, version: number, failure: Failure): Promise<void> {
    return this.store.failHeld(ref(app), version, failure);
  }

  getConfig(app: AppRef): Promise<Config> {
    return this.store.getConfig(ref(app).id);
  }

  /** Applies changes (null unsets) and makes a new release of the app's image with them. */
  async setConfig(app: AppRef, changes: Record<string, string | null>, o: ChangeBy = {}): Promise<Rollout> {
    app = ref(app);
    const ch = validateConfigChanges(changes);
    checkConfigSize(applyConfigChanges(await this.store.getConfig(app.id), ch), configMaxBytes());
    const set = Object.keys(ch).filter((k) => ch[k] !== null);
    const unset = Object.keys(ch).filter((k) => ch[k] === null);
    let reason = [set.length ? `Set ${set.join(', ')}` : '', unset.length ? `Unset ${unset.join(', ')}` : ''].filter(Boolean).join('; ') + ' config vars';
    // Kept in the release and in every event about it: a short one for a change of many vars.
    if (reason.length > 200) reason = [set.length ? `Set ${set.length}` : '', unset.length ? `Unset ${unset.length}` : ''].filter(Boolean).join('; ') + ' config vars';
    const { release, deploymentId } = await this.store.createRelease(
      app,
      { kind: 'config', reason: o.reason ?? reason, createdBy: o.createdBy ?? 'unknown', strategy: this.strategy(o) },
      { configChanges: ch },
    );
    return this.queued(app, release, deploymentId);
  }

  /** The desired formation of every process type of the app's newest release (defaults filled in). */
  async getFormation(app: AppRef): Promise<AppFormation> {
    app = ref(app);
    const stored = await this.store.getFormation(app.id);
    const types = await this.processTypes(app);
    return Object.fromEntries(types.map((t) => [t, stored[t] ?? defaultEntry(t)]));
  }

  private async processTypes(app: AppRef): Promise<string[]> {
    const desired = await this.store.getDesired(app.id);
    const r = desired === null ? null : await this.store.getRelease(app.id, desired);
    return Object.keys(r?.procfile ?? {}).filter((t) => t !== RELEASE_PHASE_TYPE).sort();
  }

  /** `{web: 3}` or `{web: {count: 2, memory: "512M", cpu: 0.5}}`: records it and rolls it out. */
  async scale(app: AppRef, request: Record<string, number | { count?: number; memory?: string | number; cpu?: number }>, o: ChangeBy = {}): Promise<{ formation: AppFormation; deployment: Deployment | null }> {
    app = ref(app);
    const next = applyScale(await this.store.getFormation(app.id), request);
    const types = await this.processTypes(app);
    const unknown = Object.keys(next).filter((t) => !types.includes(t));
    if (unknown.length) throw new SlipwayError('invalid_params', `formation: no process type ${unknown.join(', ')} in the Procfile${types.length ? ` (${types.join(', ')})` : ' (no release yet)'}`);
    await this.store.setFormation(app.id, next);
    const reason = `Scale ${Object.entries(next).map(([t, e]) => `${t}=${e.count}:${e.memory}${e.cpu ? `:${e.cpu}cpu` : ''}${e.health ? `:health ${e.health.type ?? 'http'} ${e.health.path ?? '/'} ${e.health.timeout ?? '-'}s` : ''}`).join(' ')}`;
    const deployment = await this.enqueue(app, 'scale', reason, o);
    return { formation: await this.getFormation(app), deployment };
  }

  /** Replaces every process (or those of one type) with fresh ones, rolling. */
  async restart(app: AppRef, type?: string, o: ChangeBy = {}): Promise<Deployment | null> {
    app = ref(app);
    const types = await this.processTypes(app);
    if (type !== undefined && !types.includes(type)) throw new SlipwayError('not_found', `no process type ${JSON.stringify(type.slice(0, 40))}${types.length ? ` (${types.join(', ')})` : ''}`);
    if (!types.length) throw new SlipwayError('conflict', 'the app has no processes to restart');
    await this.store.bumpRestarts(app.id, type ? [type] : types);
    return this.enqueue(app, 'restart', type ? `Restart ${type}` : 'Restart all processes', o);
  }

  /**
   * After a rename (the id is stable): rolls every process out again under the new name
   * (service `<name>-web`, `SLIPWAY_APP`), health-gated like a restart. Null when nothing runs.
   */
  async appRenamed(app: AppRef, oldName: string, o: ChangeBy = {}): Promise<Deployment | null> {
    app = ref(app);
    if ((await this.processTypes(app)).length === 0) return null;
    return this.enqueue(app, 'restart', `Rename from ${oldName}`, o);
  }

  /** A new release with the image and config of `version` (none: the release deployed before the current one). */
  async rollback(app: AppRef, version?: number | string, o: ChangeBy = {}): Promise<Rollout> {
    app = ref(app);
    const requested = version === undefined || version === null ? undefined : parseVersion(version);
    const current = (await this.store.getDeployed(app.id)).release;
    const target = chooseRollbackTarget(await this.summaries(app.id), current, requested);
    const r = (await this.store.getRelease(app.id, target))!;
    const { release, deploymentId } = await this.store.createRelease(
      app,
      { kind: 'rollback', reason: o.reason ?? `Rollback to v${target}`, createdBy: o.createdBy ?? 'unknown', strategy: this.strategy(o) },
      { build: { image: r.image, imageUrl: r.imageUrl, imageParent: r.imageParent, build: r.build, healthchecks: r.healthchecks, procfile: r.procfile }, configReplace: r.config },
    );
    return this.queued(app, release, deploymentId);
  }

  private async summaries(appId: string): Promise<ReleaseSummary[]> {
    const out: ReleaseSummary[] = [];
    let after: string | undefined;
    do {
      const page = await this.store.listReleases(appId, { limit: 500, after });
      out.push(...page.items.map((r) => ({ version: r.version, status: r.status, image: r.image })));
      after = page.next ?? undefined;
    } while (after);
    return out;
  }

  async getRelease(app: AppRef, version: number | string): Promise<Release> {
    const v = parseVersion(version);
    const r = await this.store.getRelease(ref(app).id, v);
    if (!r) throw new SlipwayError('not_found', `no release v${v}`);
    return r;
  }

  listReleases(app: AppRef, page: { limit?: number; after?: string } = {}): Promise<Page<Release>> {
    return this.store.listReleases(ref(app).id, page);
  }

  /** The release running now (the last one a rollout completed), or null. */
  async currentRelease(app: AppRef): Promise<Release | null> {
    const v = (await this.store.getDeployed(ref(app).id)).release;
    return v === null ? null : this.store.getRelease(app.id, v);
  }

  async getDeployment(app: AppRef, id: string): Promise<Deployment> {
    if (!/^\d{1,12}$/.test(id)) throw new SlipwayError('not_found', `no deployment ${JSON.stringify(id.slice(0, 20))}`);
    const d = await this.store.getDeployment(ref(app).id, id);
    if (!d) throw new SlipwayError('not_found', `no deployment ${id}`);
    return d;
  }

  listDeployments(app: AppRef, page: { limit?: number; after?: string } = {}): Promise<Page<Deployment>> {
    return this.store.listDeployments(ref(app).id, page);
  }

  /** Resolves when the rollout ends, or serves (following the ones that superseded it): Orchestrator.wait. */
  waitForDeployment(app: AppRef, id: string, o: WaitOptions = {}): Promise<Deployment> {
    return this.orchestrator.wait(ref(app).id, id, o);
  }

  listEvents(app: AppRef, o: { after?: string; limit?: number } = {}): Promise<AppEvent[]> {
    return this.store.listEvents(ref(app).id, o);
  }

  /** Stops the app's rollouts, deletes its layer-0 formation (the scheduler stops every process) and its keys. */
  async destroy(app: AppRef): Promise<void> {
    app = ref(app);
    await this.orchestrator.stopApp(app.id);
    await this.scheduler.deleteFormation(formationId(app)).catch((err: unknown) => {
      if ((err as { code?: string }).code !== 'not_found') throw err;
    });
    await this.store.destroy(app.id);
  }
}
