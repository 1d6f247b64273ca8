// container-start: a fresh container of the busybox image running `true` on an overlay root,
// timed until the process has exited. Baseline: `runc run` of a prepared bundle (overlay
// mounted, config.json written). Agent: create + wait + start through the HTTP API, as
// `docker run` does, with no network and with the bridge network.
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '../../layer0/runtime/images/store.ts';
import { removeCgroupParent } from '../../layer0/runtime/cgroups.ts';
import { buildOciSpec } from '../../layer0/runtime/oci-spec.ts';
import { mountOverlay, unmount } from '../../layer0/runtime/overlay.ts';
import { ContainerSpecSchema } from '../../layer0/runtime/types.ts';
import { busyboxRootfsTar } from '../helpers/fixtures.ts';
import { testPrefix } from '../helpers/runtime.ts';
import { startAgentProcess, type AgentProcess } from './agent-process.ts';
import { finish, median, percentile, table } from './report.ts';

const N = Number(process.env.BENCH_N ?? 30);
const TARGET = 1.5;
const BRIDGE_TARGET = 2;

async function rawSetup(dir: string) {
  const store = new ImageStore({ root: join(dir, 'images') });
  const img = await store.importTar(createReadStream(await busyboxRootfsTar(dir)), { reference: 'bench:raw' });
  const prefix = testPrefix('r');
  let i = 0;
  return {
    prefix,
    async once(): Promise<number> {
      const b = join(dir, `b${++i}`);
      mkdirSync(b);
      const spec = ContainerSpecSchema.parse({ name: 'raw', image: 'bench:raw', args: ['true'], hostname: 'raw' });
      writeFileSync(join(b, 'hosts'), '127.0.0.1 localhost\n');
      writeFileSync(join(b, 'hostname'), 'raw\n');
      const config = buildOciSpec({
        spec, rootfs: join(b, 'rootfs'), user: { uid: 0, gid: 0, additionalGids: [] }, env: ['PATH=/bin'], netns: null,
        cgroupsPath: `/${prefix}/${prefix}-${i}`, etcFiles: { hosts: join(b, 'hosts'), hostname: join(b, 'hostname'), resolvConf: null },
      });
      writeFileSync(join(b, 'config.json'), JSON.stringify(config));
      const t0 = performance.now();
      await mountOverlay(store.layerPaths(img.id), join(b, 'upper'), join(b, 'work'), join(b, 'rootfs'));
      const r = spawnSync('runc', ['--root', join(dir, 'runc'), 'run', '--bundle', b, `${prefix}-${i}`], { stdio: 'ignore' });
      const ms = performance.now() - t0;
      if (r.status !== 0) throw new Error(`runc run failed: ${r.status}`);
      await unmount(join(b, 'rootfs'));
      rmSync(b, { recursive: true, force: true });
      return ms;
    },
  };
}

async function agentOnce(agent: AgentProcess, network: string): Promise<number> {
  const t0 = performance.now();
  const c = await agent.call('POST', '/containers/create', { Image: 'bench:agent', Cmd: ['true'], HostConfig: { NetworkMode: network } });
  if (c.status !== 201) throw new Error(`create: ${c.status} ${c.body}`);
  const id = JSON.parse(c.body).Id as string;
  const wait = agent.call('POST', `/containers/${id}/wait?condition=next-exit`);
  const s = await agent.call('POST', `/containers/${id}/start`);
  if (s.status !== 204) throw new Error(`start: ${s.status} ${s.body}`);
  const w = await wait;
  const ms = performance.now() - t0;
  if (JSON.parse(w.body).StatusCode !== 0) throw new Error(`exit: ${w.body}`);
  await agent.call('DELETE', `/containers/${id}?force=1`);
  return ms;
}

const dir = mkdtempSync(join(tmpdir(), 'slwt-bench-cs-'));
const agent = await startAgentProcess();
try {
  const raw = await rawSetup(dir);
  const tar = await busyboxRootfsTar(dir);
  const imp = spawnSync('docker', ['-H', `unix://${agent.socket}`, 'import', tar, 'bench:agent'], { encoding: 'utf8' });
  if (imp.status !== 0) throw new Error(`import: ${imp.stderr}`);
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = agent.rssKiB();
  // Warm up both paths, then interleave so machine noise hits both sides alike.
  await raw.once();
  await agentOnce(agent, 'none');
  await agentOnce(agent, 'bridge');
  const rawMs: number[] = [];
  const agentMs: number[] = [];
  const bridgeMs: number[] = [];
  for (let i = 0; i < N; i++) {
    rawMs.push(await raw.once());
    agentMs.push(await agentOnce(agent, 'none'));
    bridgeMs.push(await agentOnce(agent, 'bridge'));
  }
  const base = median(rawMs);
  const value = median(agentMs);
  const bridge = median(bridgeMs);
  console.log(table([
    ['side', 'median ms', 'p90 ms', 'ratio'],
    ['raw runc run', base, percentile(rawMs, 90), 1],
    ['agent (no network)', value, percentile(agentMs, 90), value / base],
    ['agent (bridge)', bridge, percentile(bridgeMs, 90), bridge / base],
  ]));
  console.log(`agent idle RSS: ${(idleRss / 1024).toFixed(1)} MiB; runs per side: ${N}`);
  removeCgroupParent(raw.prefix);
  const ratio = value / base;
  finish({ bench: 'container-start', metric: 'median create+start+wait (no network)', value: +value.toFixed(2), baseline: +base.toFixed(2), ratio: +ratio.toFixed(3), target: TARGET, unit: 'ms', pass: ratio <= TARGET && bridge / base <= BRIDGE_TARGET });
} finally {
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
}
