// The deploy data model against a real Redis, without layer 0 (the orchestrator is not started):
// versions are consecutive under concurrency, config snapshots are cumulative, a newer change
// supersedes the queued rollout, releases inherit the newest image that did not fail, errors are clear.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SchedulerClient } from '../../../../../layer0/scheduler/types.ts';
import { Orchestrator } from '../../../../../layer1/controller/deploy/orchestrator.ts';
import { Releases } from '../../../../../layer1/controller/deploy/releases.ts';
import { DeployStore } from '../../../../../layer1/controller/deploy/store.ts';
import { startTestRedis, type TestRedis } from '../../../../helpers/redis.ts';

let redis: TestRedis;
let store: DeployStore;
let releases: Releases;
let n = 0;
const newApp = () => ({ id: `app${++n}`, name: `app-${n}` });
const by = { createdBy: 'ann' };
const procfile = { web: 'httpd -f -p $PORT -h /' };

before(async () => {
  redis = await startTestRedis();
  store = new DeployStore(redis.connect(), 'ut:');
  // Never started: kick() only marks work for a worker, which needs the scheduler (unused here).
  const orchestrator = new Orchestrator({ store, scheduler: {} as SchedulerClient });
  orchestrator.kick = () => undefined;
  releases = new Releases(store, orchestrator, {} as SchedulerClient);
});
after(() => redis.cleanup());

describe('deploy store', () => {
  it('numbers releases v1, v2, … and snapshots the config', async () => {
    const app = newApp();
    const a = await releases.createRelease(app, { image: 'bb:1', procfile, createdBy: 'ann' });
    assert.equal(a.release?.version, 1);
    assert.equal(a.release?.status, 'pending');
    assert.equal(a.deployment?.state, 'queued');
    assert.equal(a.deployment?.to, 1);
    const b = await releases.setConfig(app, { FOO: 'bar' }, by);
    assert.equal(b.release?.version, 2);
    assert.equal(b.release?.image, 'bb:1'); // inherited
    assert.deepEqual(b.release?.config, { FOO: 'bar' });
    assert.equal(b.release?.reason, 'Set FOO config vars');
    const c = await releases.setConfig(app, { FOO: null, BAZ: 'q' }, by);
    assert.deepEqual(c.release?.config, { BAZ: 'q' });
    assert.deepEqual(await releases.getConfig(app), { BAZ: 'q' });
    assert.deepEqual((await releases.getRelease(app, 'v2')).config, { FOO: 'bar' }); // immutable
    // The queued rollouts superseded each other; the releases they would have run too.
    assert.equal((await releases.getDeployment(app, a.deployment!.id)).state, 'superseded');
    assert.equal((await releases.getDeployment(app, a.deployment!.id)).supersededBy, b.deployment!.id);
    assert.equal((await releases.getRelease(app, 1)).status, 'superseded');
    assert.equal((await releases.getRelease(app, 3)).status, 'pending');
    const list = await releases.listReleases(app, { limit: 2 });
    assert.deepEqual(list.items.map((r) => r.version), [3, 2]);
    assert.equal(list.next, '2');
    assert.deepEqual((await releases.listReleases(app, { after: list.next! })).items.map((r) => r.version), [1]);
  });

  it('50 parallel config changes: 50 consecutive versions, the last has every key, one rollout queued', async () => {
    const app = newApp();
    await releases.createRelease(app, { image: 'bb:1', procfile, createdBy: 'ann' });
    const out = await Promise.all(Array.from({ length: 50 }, (_, i) => releases.setConfig(app, { [`K${i}`]: String(i) }, by)));
    assert.deepEqual(out.map((o) => o.release!.version).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 2));
    const last = await releases.getRelease(app, 51);
    assert.equal(Object.keys(last.config).length, 50);
    // Every snapshot holds exactly the keys of the versions before it.
    for (const o of out) assert.equal(Object.keys(o.release!.config).length, o.release!.version - 1);
    const deps = (await releases.listDeployments(app)).items;
    assert.deepEqual(deps.filter((d) => d.state === 'queued').map((d) => d.to), [51]);
    assert.equal(deps.filter((d) => d.state === 'superseded').length, 50);
  });

  it('a config change before any image makes an image-less release; scaling then is refused', async () => {
    const app = newApp();
    const r = await releases.setConfig(app, { A: '1' }, by);
    assert.equal(r.release?.image, null);
    assert.deepEqual(r.release?.procfile, {});
    await assert.rejects(releases.scale(app, { web: 2 }), /no process type web in the Procfile \(no release yet\)/);
    await assert.rejects(releases.rollback(app, 1), { code: 'conflict' });
  });

  it('refuses bad input with clear errors and writes nothing', async () => {
    const app = newApp();
    await assert.rejects(releases.setConfig(app, { PORT: '1' }, by), /PORT: reserved/);
    await assert.rejects(releases.createRelease(app, { image: '', procfile, createdBy: 'x' }), { code: 'invalid_params' });
    await assert.rejects(releases.createRelease(app, { image: 'bb:1', procfile: {}, createdBy: 'x' }), /at least one process type/);
    await assert.rejects(releases.createRelease(app, { image: 'bb:1', procfile: { 'Web!': 'x' }, createdBy: 'x' }), { code: 'invalid_params' });
    await assert.rejects(releases.createRelease({ id: 'Bad Id', name: 'abc' }, { image: 'bb:1', procfile, createdBy: 'x' }), { code: 'invalid_params' });
    await assert.rejects(releases.getRelease(app, 'seven'), { code: 'invalid_params' });
    await assert.rejects(releases.getRelease(app, 1), { code: 'not_found' });
    await assert.rejects(releases.rollback(app), { code: 'conflict' });
    await assert.rejects(releases.restart(app), { code: 'conflict' });
    assert.equal(await store.latestVersion(app.id), 0);
    await releases.createRelease(app, { image: 'bb:1', procfile, createdBy: 'x' });
    await assert.rejects(releases.scale(app, { worker: 1 }), /no process type worker/);
    await assert.rejects(releases.restart(app, 'worker'), { code: 'not_found' });
    const s = await releases.scale(app, { web: { count: 2, memory: '128M' } });
    assert.deepEqual(s.formation, { web: { count: 2, memory: '128M', cpu: 0 } });
    assert.equal(s.deployment?.kind, 'scale');
  });

  it('records events in order, resumable by id', async () => {
    const app = newApp();
    await releases.createRelease(app, { image: 'bb:1', procfile, createdBy: 'ann' });
    await releases.setConfig(app, { A: '1' }, by);
    const all = await releases.listEvents(app);
    assert.deepEqual(all.map((e) => e.type), ['release.created', 'deployment.queued', 'release.created', 'deployment.superseded', 'deployment.queued']);
    assert.deepEqual((await releases.listEvents(app, { after: all[2]!.id })).map((e) => e.type), ['deployment.superseded', 'deployment.queued']);
  });
});
