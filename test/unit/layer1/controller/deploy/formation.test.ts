// Release → layer-0 job specs: one per process type, env (config + platform vars), web's port,
// service and health check, labels, sizes from the app's formation, restart counters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobSpecSchema } from '../../../../../layer0/scheduler/types.ts';
import { processSpecs, sameProcesses } from '../../../../../layer1/controller/deploy/formation.ts';
import { release } from './fixtures.ts';

const app = { id: 'a1b2', name: 'shop' };

describe('release → formation', () => {
  it('maps every process type to a valid job spec', () => {
    const specs = processSpecs(app, release(), {}, {});
    assert.deepEqual(Object.keys(specs), ['web', 'worker']);
    for (const s of Object.values(specs)) JobSpecSchema.parse(s);
    const web = specs.web!;
    assert.equal(web.count, 1); // web defaults to 1, others to 0
    assert.equal(specs.worker!.count, 0);
    assert.deepEqual(web.cmd, ['/bin/sh', '-c', 'httpd -f -p $PORT -h /']);
    assert.deepEqual(web.env, ['FOO=bar', 'PORT=5000', 'PORT_X=1', 'SLIPWAY_APP=shop', 'SLIPWAY_RELEASE=v7']);
    assert.deepEqual(web.ports, [5000]);
    assert.equal(web.service, 'shop-web');
    assert.deepEqual(web.health, { type: 'http', path: '/', timeoutMs: 60_000, intervalMs: 250 });
    assert.deepEqual(web.labels, { 'slipway.app': 'shop', 'slipway.app-id': 'a1b2', 'slipway.isolation': 'a1b2', 'slipway.release': 'v7', 'slipway.type': 'web' });
    assert.equal(web.imageUrl, 'http://127.0.0.1:1/bb.tar');
    assert.equal(web.drainSec, 5);
    assert.equal(web.stopGraceSec, 30);
    const worker = specs.worker!;
    assert.deepEqual(worker.ports, []);
    assert.equal(worker.service, undefined);
    assert.equal(worker.health, undefined);
  });

  it('a slug release: the launcher, HOME and SOURCE_VERSION, the stack as parent, app.json health checks, no release-phase process', () => {
    const specs = processSpecs(app, release({
      image: 'slipway/slug:abc', imageParent: 'slipway/stack:bookworm', build: { id: 'b_1', commit: 'a'.repeat(40) },
      procfile: { web: 'npm start', release: 'node migrate.js' }, healthchecks: { web: { path: '/health', timeout: 5, attempts: 2 } },
    }), {}, {});
    assert.deepEqual(Object.keys(specs), ['web']);
    const web = specs.web!;
    JobSpecSchema.parse(web);
    assert.deepEqual(web.cmd, ['/app/.slipway/launch', 'npm start']);
    assert.equal(web.imageParent, 'slipway/stack:bookworm');
    assert.ok(web.env.includes('HOME=/app') && web.env.includes(`SOURCE_VERSION=${'a'.repeat(40)}`));
    assert.deepEqual(web.health, { type: 'http', path: '/health', timeoutMs: 10_000, intervalMs: 250 });
    const api = processSpecs(app, release({ healthchecks: { web: { path: '/health', timeout: 5 } } }), { web: { count: 1, memory: '256M', cpu: 0, health: { path: '/api', timeout: 7 } } }, {});
    assert.deepEqual(api.web!.health, { type: 'http', path: '/api', timeoutMs: 7000, intervalMs: 250 }, 'the API\'s check wins over app.json');
    const tcp = processSpecs(app, release({ healthchecks: { web: { type: 'tcp', timeout: 3 } } }), {}, {});
    assert.deepEqual(tcp.web!.health, { type: 'tcp', path: '/', timeoutMs: 3000, intervalMs: 250 });
  });

  it('takes counts, memory and cpu from the app formation, and options for ports and lifecycle', () => {
    const specs = processSpecs(app, release(), { web: { count: 3, memory: '512M', cpu: 0.5 }, worker: { count: 2, memory: '1G', cpu: 0 } }, {}, { webPort: 8080, drainSec: 0, stopGraceSec: 1, healthTimeoutMs: 5000 });
    assert.equal(specs.web!.count, 3);
    assert.equal(specs.web!.memory, 512 * 1024 ** 2);
    assert.equal(specs.web!.cpus, 0.5);
    assert.deepEqual(specs.web!.ports, [8080]);
    assert.ok(specs.web!.env.includes('PORT=8080'));
    assert.equal(specs.web!.health!.timeoutMs, 5000);
    assert.equal(specs.worker!.memory, 1024 ** 3);
    assert.equal(specs.worker!.drainSec, 0);
  });

  it('the platform variables win over config, and a release without an image runs nothing', () => {
    const specs = processSpecs(app, release({ config: { SLIPWAY_APP: 'evil' } }), {}, {});
    assert.ok(specs.web!.env.includes('SLIPWAY_APP=shop'));
    assert.ok(!specs.web!.env.includes('SLIPWAY_APP=evil'));
    assert.deepEqual(processSpecs(app, release({ image: null }), {}, {}), {});
  });

  it('a count change keeps the processes; a restart, a config change or a new release does not', () => {
    const a = processSpecs(app, release(), {}, {}).web!;
    assert.ok(sameProcesses(a, processSpecs(app, release(), { web: { count: 5, memory: '256M', cpu: 0 } }, {}).web!));
    assert.ok(!sameProcesses(a, processSpecs(app, release(), {}, { web: 1 }).web!));
    assert.equal(processSpecs(app, release(), {}, { web: 1 }).web!.labels['slipway.restart'], '1');
    assert.ok(sameProcesses(processSpecs(app, release(), {}, { worker: 1 }).web!, a)); // another type's restart
    assert.ok(!sameProcesses(a, processSpecs(app, release({ config: { FOO: 'baz' } }), {}, {}).web!));
    assert.ok(!sameProcesses(a, processSpecs(app, release({ version: 8 }), {}, {}).web!));
    assert.ok(!sameProcesses(a, processSpecs(app, release(), { web: { count: 1, memory: '512M', cpu: 0 } }, {}).web!));
  });
});
