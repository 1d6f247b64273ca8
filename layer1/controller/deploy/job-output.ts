// The last lines a failed process printed, for the deployment record: the job's host → its agent
// URL (the `slipway-hosts` instance in discovery) → the agent's logs API. Best effort: without
// discovery, a reachable agent or its token, the record simply has no output.
import { connectAgent } from '../../../layer0/agent/index.ts';
import { HOSTS_SERVICE, type Discovery } from '../../../layer0/discovery/index.ts';

export interface OutputSource {
  discovery?: Discovery;
  agentToken?: string;
}

export async function lastOutput(src: OutputSource, job: { id: string; hostId: string | null }, lines = 20, timeoutMs = 3000): Promise<string[]> {
  if (!src.discovery || !job.hostId || job.id.startsWith('pending:')) return [];
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const host = (await src.discovery.instances(HOSTS_SERVICE)).find((i) => i.id === job.hostId);
    if (!host) return [];
    const agent = host.addr.startsWith('unix://')
      ? connectAgent({ socketPath: host.addr.slice('unix://'.length) })
      : (() => {
          const u = new URL(host.addr);
          return connectAgent({ host: u.hostname, port: Number(u.port || 2375), token: src.agentToken });
        })();
    const chunks: Buffer[] = [];
    for await (const c of agent.logs(job.id, { tail: lines, signal })) chunks.push(c.data);
    return tail(Buffer.concat(chunks).toString('utf8'), lines);
  } catch {
    return [];
  }
}

/** The last `n` non-empty lines, each cut to 500 characters. */
export function tail(text: string, n: number): string[] {
  return text.split(/\r?\n/).filter((l) => l.length > 0).slice(-n).map((l) => (l.length > 500 ? `${l.slice(0, 500)}…` : l));
}
