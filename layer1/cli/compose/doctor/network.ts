// `slipway doctor --network`: can a container reach the npm registry through the NAT path builds
// use? A one-off stack container on this home's agent (bridge network, the host's CA bundle as a
// build gets it) asks the registry of `npm config get registry`, and nothing else, for `/-/ping`.
import { existsSync } from 'node:fs';
import { connectAgent } from '../../../../layer0/agent/index.ts';
import { agentSocketPath, slipwayPaths } from '../../../../layer0/common/paths.ts';
import { CONTAINER_CA_PATH, readHostBuildEnv } from '../../../builder/host-env.ts';
import type { Check, CheckResult } from './checks.ts';

const NAME = 'npm registry';
const IMAGE = 'slipway/stack:bookworm';

/** Node in the container: GET <registry>/-/ping, exit 0 on any HTTP answer below 500. */
const PROBE = `fetch(process.argv[1].replace(/\\/?$/, '/-/ping'), { signal: AbortSignal.timeout(15000) })
  .then((r) => { console.log('HTTP ' + r.status); process.exit(r.status < 500 ? 0 : 1); }, (e) => { console.log(String(e.cause?.code ?? e.cause ?? e.message)); process.exit(1); })`;

export const npmRegistryCheck: Check = {
  name: NAME,
  network: true,
  async run(h): Promise<CheckResult> {
    const socketPath = agentSocketPath(slipwayPaths(h.env));
    const agent = connectAgent({ socketPath });
    if (!existsSync(socketPath) || !(await agent.ping().catch(() => false))) {
      return { name: NAME, level: 'warn', detail: 'not checked: the platform of this SLIPWAY_HOME is not running', fix: 'start it (`slipway up --detach`), then run `slipway doctor --network` again' };
    }
    const host = await readHostBuildEnv();
    const id = await agent.createContainer({
      Image: IMAGE, Cmd: ['node', '-e', PROBE, host.npmRegistry],
      Env: host.caBundle ? [`NODE_EXTRA_CA_CERTS=${CONTAINER_CA_PATH}`] : [],
      Labels: { 'slipway.doctor': 'npm-registry' },
      HostConfig: { NetworkMode: 'bridge', Binds: host.caBundle ? [`${host.caBundle}:${CONTAINER_CA_PATH}:ro`] : [], Memory: 256 * 1024 ** 2 },
    });
    try {
      await agent.startContainer(id);
      const code = await agent.waitContainer(id, 'not-running');
      let out = '';
      for await (const c of agent.logs(id, { tail: 5 })) out += c.data.toString();
      const said = out.trim().split('\n').pop() ?? '';
      return code === 0
        ? { name: NAME, level: 'ok', detail: `a container reached ${host.npmRegistry} through NAT (${said})` }
        : { name: NAME, level: 'fail', detail: `a container could not reach ${host.npmRegistry}: ${said || `exit ${code}`}`, fix: 'check the host\'s route and DNS to the registry, and that nothing drops forwarded traffic from the Slipway bridge (iptables FORWARD policy, a host firewall)' };
    } finally {
      await agent.removeContainer(id, true).catch(() => undefined);
    }
  },
};
