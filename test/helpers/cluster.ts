// A real cluster on this machine for tests (thin over layer1/cli/compose/cluster.ts): netns
// hosts named from the suite's prefix (`slwtXXXX`, hosts `slwtXXXXh<i>`, bridge `slwtXXXXc0`)
// in a fresh directory; `down()` removes it all and fails when anything is left.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clusterUp as up, type Cluster, type ClusterUpOptions } from '../../layer1/cli/compose/cluster.ts';
import { findLeaks } from './leaks.ts';
import { testPrefix } from './runtime.ts';

const execFileP = promisify(execFile);

export type TestCluster = Cluster & {
  /** Hosts prefixes (`<prefix>h<i>`) whose leftovers `down()` also looks for. */
  extraPrefixes: string[];
};

/** The suite's own prefix (8 characters): every name of the cluster starts with it. */
export function clusterPrefix(): string {
  return testPrefix('').slice(0, 8);
}

export async function clusterUp(opts: Partial<ClusterUpOptions> & { hosts: number }): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'slwt-cluster-'));
  const prefix = opts.prefix ?? clusterPrefix();
  let c: Cluster;
  try {
    c = await up({ importStack: false, readyTimeoutMs: 30_000, ...opts, dir, prefix });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const hostPrefixes = c.hosts.map((h) => `${prefix}h${h.index}`);
  const runcRoots = c.hosts.map((h) => join(dir, 'hosts', String(h.index), 'run', 'runc'));
  const extraPrefixes: string[] = [];
  const down = c.down;
  return Object.assign(c, {
    extraPrefixes,
    async down() {
      await down();
      const leaks: string[] = [];
      for (const p of [prefix, ...hostPrefixes, ...extraPrefixes]) leaks.push(...(await findLeaks(p, { runcRoots })));
      leaks.push(...(await machineLeaks(prefix, dir)));
      rmSync(dir, { recursive: true, force: true });
      if (leaks.length) throw new Error(`cluster leaked:\n${[...new Set(leaks)].join('\n')}`);
    },
  });
}

/** What `findLeaks` does not claim by name: the bridge and host veths, rules by comment, processes. */
async function machineLeaks(prefix: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  const lines = async (f: string, a: string[]) => (await execFileP(f, a)).stdout.split('\n');
  for (const l of await lines('ip', ['-o', 'link', 'show'])) if ((l.split(': ')[1] ?? '').startsWith(prefix)) out.push(`link ${l.slice(0, 100)}`);
  for (const l of await lines('ip', ['netns', 'list'])) if (l.startsWith(prefix)) out.push(`netns ${l}`);
  const upper = prefix.toUpperCase();
  for (const t of ['filter', 'nat', 'raw']) for (const l of await lines('iptables-save', ['-t', t])) if (l.includes(prefix) || l.includes(upper)) out.push(`iptables ${l}`);
  for (const l of await lines('ip6tables-save', ['-t', 'filter'])) if (l.includes(prefix) || l.includes(upper)) out.push(`ip6tables ${l}`);
  for (const l of await lines('ebtables-save', ['-t', 'nat'])) if (l.includes(prefix) || l.includes(upper)) out.push(`ebtables ${l}`);
  for (const l of await lines('ps', ['-eo', 'pid,args'])) if (l.includes(dir)) out.push(`process ${l.trim().slice(0, 160)}`);
  return out;
}
