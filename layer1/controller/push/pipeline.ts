// The push pipeline (gitreceiver's PushPipeline): `git push slipway main` → the pushed tree in a
// temp tar → a build on the queue (its log streamed to the pusher as it comes) → a slug release →
// the release phase (`release:` in the Procfile, a one-off of the new release) → the rollout,
// followed → a request through the router → `-----> Deployed v7 to http://app.localhost:8080`.
// Any failure throws (the receiver refuses the push with the message); the running release stays.
// Built by `slipway up` with the builder's queue, the blobstore client and the deploy core.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { pipeline as pipe } from 'node:stream/promises';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { silentLogger, type Logger } from '../../../layer0/common/logger.ts';
import type { BlobClient } from '../../blobstore/client.ts';
import { slugImage, TERMINAL, type BuildQueue, type BuildRecord } from '../../builder/index.ts';
import type { PushPipeline, PushRequest } from '../../gitreceiver/types.ts';
import { formationId, LABEL_RELEASE, RELEASE_PHASE_TYPE, type Deployment, type Release } from '../deploy/index.ts';
import { appUrl } from '../routes/router.ts';
import type { DeployDeps } from '../routes/deps.ts';
import { runToEnd } from '../run/run-to-end.ts';
import { readAppJson } from './app-json.ts';
import { PhaseClock } from './phases.ts';

export interface PushPipelineOptions {
  builds: BuildQueue;
  blobs: BlobClient;
  deploy: DeployDeps;
  /** Where pushed trees are written for the builder (same host): `$SLIPWAY_HOME/tmp`. */
  tmpDir: string;
  /** The router the push checks the new release through, and the app's public address. */
  router: { httpPort: number; host?: string; domain: string };
  log?: Logger;
  /** How long the rollout may take in all (default 10 min). */
  rolloutTimeoutMs?: number;
  /** How long the release phase may run (default 10 min). */
  releaseTimeoutMs?: number;
  /** How long the router may take to answer the new release below 500 (default 30 s). */
  checkTimeoutMs?: number;
}

/** How often a build no worker has taken is mentioned to the pusher. */
const STALL_NOTE_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const short = (sha: string) => sha.slice(0, 7);

export function createPushPipeline(o: PushPipelineOptions): PushPipeline {
  const log = o.log ?? silentLogger;
  const { deploy } = o.deploy;
  const publicUrl = (app: string) => appUrl(app, o.router.domain, o.router.httpPort);

  async function build(push: PushRequest, clock: PhaseClock): Promise<{ rec: BuildRecord; healthchecks: Release['healthchecks']; why: string[] }> {
    const { app, say, signal } = push;
    await mkdir(o.tmpDir, { recursive: true, mode: 0o700 });
    const tar = join(o.tmpDir, `push-${app.id}-${randomBytes(6).toString('hex')}.tar`);
    try {
      await pipe(push.archive(), createWriteStream(tar, { mode: 0o600 }));
      const appJson = await readAppJson(tar);
      clock.mark('receive');
      const config = await deploy.getConfig(app);
      const { buildId } = await o.builds.enqueueBuild({
        app, commit: push.sha, sourceTar: { path: tar }, config, createdBy: push.user.name,
        ...(config.BUILDPACK_URL ? { buildpackUrl: config.BUILDPACK_URL } : {}),
      });
      const cancel = () => void o.builds.cancelBuild(buildId).catch((err: unknown) => log.warn({ err, build: buildId }, 'cancelling a build failed'));
      signal.addEventListener('abort', cancel, { once: true });
      // A build first in its app's queue that no worker takes: say so rather than wait in silence.
      const stalled = setInterval(() => {
        void o.builds.position(buildId).then((p) => {
          if (p.state === 'pending' && p.ahead === 0) say('-----> No build worker has taken this build yet (busy with other apps, or none running); still waiting (Ctrl-C gives up)');
        }, () => undefined);
      }, STALL_NOTE_MS);
      // The buildpacks' ` !     reason` lines: the first ones say why a build failed.
      const why: string[] = [];
      try {
        for await (const l of o.builds.followLog(buildId)) {
          if (l.stream !== 'system' && /^ !\s+\S/.test(l.line) && why.length < 2) why.push(l.line.replace(/^ !\s+/, ''));
          if (l.stream === 'system') say(l.line.startsWith('-----> ') ? l.line : `-----> ${l.line[0]!.toUpperCase()}${l.line.slice(1)}`);
          else say(l.line);
          if (l.stream === 'stdout' && l.line.startsWith('-----> Compressing')) clock.mark('build');
        }
        // followLog ends once the record has ended (the end marker is written after it).
        const now = await o.builds.getBuild(buildId);
        const rec = now && TERMINAL.has(now.state) ? now : await o.builds.waitForBuild(buildId);
        clock.mark(clock.has('build') ? 'slug' : 'build');
        return { rec, healthchecks: appJson?.healthchecks ?? {}, why };
      } finally {
        clearInterval(stalled);
        signal.removeEventListener('abort', cancel);
      }
    } finally {
      await rm(tar, { force: true });
    }
  }

  /** `; v7 keeps serving`, or nothing when the app runs nothing yet. */
  async function runningNote(app: PushRequest['app']): Promise<string> {
    const cur = await deploy.currentRelease(app).catch(() => null);
    return cur ? `; v${cur.version} keeps serving` : '';
  }

  /** The release phase: `release:` runs as a one-off of the held release; its failure stops the deploy. */
  async function releasePhase(push: PushRequest, release: Release & { image: string }, command: string): Promise<void> {
    const { app, say } = push;
    say(`-----> Running release command: ${command}`);
    let result;
    try {
      result = await runToEnd(o.deploy, log, app, release, command, {
        onLine: (line) => say(`       ${line}`), signal: push.signal, timeoutMs: o.releaseTimeoutMs ?? 600_000,
      });
    } catch (err) {
      result = { exitCode: -1, error: (err as Error).message };
    }
    if (result.exitCode === 0) return;
    const why = 'error' in result ? `could not run: ${result.error}`
      : result.killed === 'timeout' ? 'ran past its time limit (killed)'
      : result.killed === 'aborted' ? 'was cancelled' : `exited with status ${result.exitCode}`;
    await deploy.failHeldRelease(app, release.version, { check: 'release', type: RELEASE_PHASE_TYPE, message: `the release command ${why}`, output: [] });
    throw new Error(`Release phase failed: the release command ${why}.\nv${release.version} was not deployed${await runningNote(app)}.`);
  }

  /**
   * Follows the rollout (and any that supersede it), saying its log, until its new processes serve
   * (the rest is the old ones' drain, which the push need not wait for) or it failed.
   */
  async function rollout(push: PushRequest, id: string, version: number, clock: PhaseClock): Promise<Deployment> {
    const timeoutMs = o.rolloutTimeoutMs ?? 600_000;
    let cur = id;
    let said = 0;
    const onPoll = async (d: Deployment) => {
      if (d.id !== cur) {
        cur = d.id;
        said = 0;
      }
      for (const line of d.log.slice(said)) push.say(`       ${line.replace(/^\S+Z /, '').replace(/\n/g, '\n       ')}`);
      said = d.log.length;
      if (d.state === 'superseded' && d.supersededBy) push.say(`       superseded by deployment ${d.supersededBy} (a newer change); following it`);
      if (d.state === 'running' && !clock.has('health check')) {
        // The phases of the first new process: running (start), then registered (health check).
        const mine = (await o.deploy.scheduler.listJobs({ formationId: formationId(push.app) }).catch(() => [])).filter((j) => j.labels[LABEL_RELEASE] === `v${version}`);
        if (mine.some((j) => j.state === 'running')) clock.mark('start');
        if (mine.some((j) => j.registered)) clock.mark('health check');
      }
    };
    try {
      return await deploy.waitForDeployment(push.app, id, { until: 'serving', timeoutMs, signal: push.signal, onPoll });
    } catch (err) {
      if (push.signal.aborted) throw new Error('the push was cancelled during the rollout; the rollout goes on');
      if (err instanceof SlipwayError && err.code === 'unavailable') throw new Error(`The rollout (deployment ${cur}) did not end within ${Math.round(timeoutMs / 1000)} s; it goes on: slipway deployments`);
      throw err;
    }
  }

  /** Waits (10 s at most) until no process of another release is registered: the router then sends every request to the new one. */
  async function oldDeregistered(app: PushRequest['app'], version: number): Promise<void> {
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      const jobs = await o.deploy.scheduler.listJobs({ formationId: formationId(app) }).catch(() => []);
      if (!jobs.some((j) => j.registered && j.labels[LABEL_RELEASE] !== `v${version}`)) return;
      await sleep(100);
    }
  }

  /** `GET /` through the router, as a visitor would, until it answers below 500. */
  async function checkRouter(app: string): Promise<number> {
    const end = Date.now() + (o.checkTimeoutMs ?? 30_000);
    let last = 'no answer';
    for (;;) {
      try {
        const status = await get(o.router.host ?? '127.0.0.1', o.router.httpPort, `${app}.${o.router.domain}`);
        if (status < 500) return status;
        last = `HTTP ${status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > end) throw new Error(`The new release runs, but ${publicUrl(app)} did not answer through the router within ${Math.round((o.checkTimeoutMs ?? 30_000) / 1000)} s (${last}).`);
      await sleep(200);
    }
  }

  return {
    async deploy(push) {
      const { app, say } = push;
      const clock = new PhaseClock();
      say(`-----> Building ${app.name} ${short(push.sha)}${push.previous ? ` (from ${short(push.previous)})` : ''}`);
      const { rec, healthchecks, why } = await build(push, clock);
      if (push.signal.aborted || rec.state === 'cancelled') throw new Error('the push was cancelled; nothing was deployed');
      if (rec.state !== 'succeeded') {
        // The builder's own reason when it has one of its own (memory, time limit), else the buildpack's.
        const reason = rec.failure?.code === 'build_failed' && why.length ? why.join(' ') : (rec.failure?.message ?? rec.state);
        throw new Error(`Build failed: ${reason}\nNothing was deployed${await runningNote(app)}.`);
      }
      const procfile = rec.processTypes;
      const types = Object.keys(procfile).filter((t) => t !== RELEASE_PHASE_TYPE);
      if (types.length === 0) throw new Error('The build has no process types to run: add a Procfile (web: <command>) or a start command your buildpack knows.');
      const img = slugImage(rec, o.blobs);
      const input = {
        ...img, procfile, build: { id: rec.id, commit: push.sha }, healthchecks,
        reason: `Deploy ${short(push.sha)}`, createdBy: push.user.name,
      };
      const phase = procfile[RELEASE_PHASE_TYPE];
      let rolled;
      if (phase) {
        const held = await deploy.createRelease(app, input, { hold: true });
        await releasePhase(push, held.release as Release & { image: string }, phase);
        clock.mark('release');
        if (push.signal.aborted) throw new Error('the push was cancelled; nothing was deployed');
        rolled = await deploy.promoteRelease(app, held.release!.version, { createdBy: push.user.name, reason: input.reason });
      } else rolled = await deploy.createRelease(app, input);
      const version = rolled.release!.version;
      say(`-----> Releasing v${version}: ${types.map((t) => `${t}: ${procfile[t]}`).join(', ')}`);
      const d = await rollout(push, rolled.deployment!.id, version, clock);
      if (d.state === 'failed') {
        const f = d.failure;
        const out = f?.output.length ? `\nLast output of the ${f.type ?? ''} process:\n${f.output.map((l) => `  ${l}`).join('\n')}` : '';
        throw new Error(`Deploy of v${version} failed: ${f?.message ?? 'the rollout failed'}${out}`);
      }
      clock.mark('start');
      clock.mark('health check');
      await oldDeregistered(push.app, version);
      const formation = await deploy.getFormation(app);
      if (procfile.web && (formation.web?.count ?? 0) > 0) {
        const status = await checkRouter(app.name);
        say(`       ${publicUrl(app.name)} answers (HTTP ${status})`);
      }
      clock.mark('route switch');
      say(`       ${clock.describe()}`);
      log.info({ app: app.name, version, sha: push.sha, phases: clock.phases() }, 'push deployed');
      return { summary: `-----> Deployed v${version} to ${publicUrl(app.name)}` };
    },
  };
}

function get(host: string, port: number, hostname: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', method: 'GET', headers: { host: hostname, 'user-agent': 'slipway-push-check' }, timeout: 5000, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}
