// `slipway up --detach` on a fresh SLIPWAY_HOME becomes ready with the stack imported from the
// machine cache; a container runs; `slipway down` removes everything and is idempotent.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { findLeaks } from '../helpers/leaks.ts';
import { testPrefix } from '../helpers/runtime.ts';

const execFileP = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/slipway.js');
const dir = mkdtempSync(join(tmpdir(), 'slwt-up-'));
const env = { ...process.env, SLIPWAY_HOME: join(dir, 'home'), SLIPWAY_RUN: join(dir, 'run'), SLIPWAY_PREFIX: testPrefix('u') };
const slipway = (args: string[], timeout = 120_000) => execFileP(process.execPath, [BIN, ...args], { env, timeout });
const docker = (args: string[]) => execFileP('docker', ['-H', `unix://${join(dir, 'run', 'agent.sock')}`, ...args], { timeout: 60_000 });

after(async () => {
  await slipway(['down']).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('slipway up and down', () => {
  it('starts detached, runs a stack container, and comes down clean', { timeout: 240_000 }, async () => {
    const t0 = Date.now();
    const up = await slipway(['up', '--detach']);
    assert.match(up.stdout, /slipway is up/);
    assert.ok(Date.now() - t0 < 60_000, 'ready within 60 s with a cached stack');
    await assert.rejects(slipway(['up', '--detach']), /already running/);
    // The stack is imported in the background once the agent serves.
    let images = '';
    for (let i = 0; i < 100 && !images.includes('slipway/stack'); i++) {
      images = (await docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(images, /slipway\/stack:bookworm/);
    const run = await docker(['run', '-d', '--name', 'n1', 'slipway/stack:bookworm', 'node', '-e', 'setInterval(() => {}, 1000)']);
    assert.match(run.stdout, /^[0-9a-f]{64}$/m);
    const whoami = await docker(['exec', 'n1', 'node', '-e', 'console.log(process.version)']);
    assert.match(whoami.stdout, /^v\d+/);

    const t1 = Date.now();
    const down = await slipway(['down'], 70_000);
    assert.match(down.stdout, /slipway is down/);
    assert.ok(Date.now() - t1 < 60_000);
    assert.deepEqual(await findLeaks(env.SLIPWAY_PREFIX, { runcRoots: [join(dir, 'run', 'runc')] }), []);
    const again = await slipway(['down']);
    assert.match(again.stdout, /slipway is down/);
  });
});
