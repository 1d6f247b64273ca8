// /v1/apps/:app/processes: the app's running processes as layer 0 sees them (the scheduler's jobs
// with the app's labels), restarting them (all or one type, rolled out), and stopping one (its
// host's agent deregisters, drains and stops it; the scheduler starts a replacement).
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { connectAgent } from '../../../layer0/agent/index.ts';
import { HOSTS_SERVICE } from '../../../layer0/discovery/index.ts';
import type { Job } from '../../../layer0/scheduler/index.ts';
import { LABEL_APP_ID, LABEL_RELEASE, LABEL_TYPE, PROCESS_TYPE_RE, formationId } from '../deploy/index.ts';
import { appRoute, type AnyRoute } from '../http/route.ts';
import { components, listOf, type App } from '../types.ts';
import { AppParams, Deployment, Wait, settle } from './deployments.ts';
import type { DeployDeps, RouteDeps } from './deps.ts';

export const Process = z.object({
  id: z.string().describe('the container id on its host, or pending:… when not placed yet'),
  type: z.string(),
  state: z.enum(['pending', 'starting', 'running', 'restarting', 'stopping', 'exited']),
  reason: z.string().describe('why it is pending, or the last error'),
  host: z.string().nullable(),
  address: z.string().nullable().describe('host:port of its published PORT'),
  registered: z.boolean().describe('healthy and in the router\'s backends (web)'),
  restarts: z.number().int(),
  exitCode: z.number().int().nullable(),
  release: z.string().describe('v7'),
  startedAt: z.string(),
});
components.add(Process, { id: 'Process' });
type Process = z.infer<typeof Process>;

const ProcessId = z.string().regex(/^[a-f0-9]{12,64}$/, 'a process id (12-64 hex digits, as `ps` shows)');
/** How long DELETE waits for the stop to fail fast (an unreachable agent) before answering 202. */
const STOP_ANSWER_MS = 1500;

function toProcess(j: Job): Process {
  return {
    id: j.id,
    type: j.labels[LABEL_TYPE] ?? j.jobName.replace(/-[^-]+$/, ''),
    state: j.state,
    reason: j.reason,
    host: j.hostId,
    address: Object.values(j.ports)[0] ?? null,
    registered: j.registered,
    restarts: j.restartCount,
    exitCode: j.exitCode,
    release: j.labels[LABEL_RELEASE] ?? '',
    startedAt: j.createdAt,
  };
}

export function processRoutes({ log }: RouteDeps, d: DeployDeps): AnyRoute[] {
  const jobs = async (app: App) =>
    (await d.scheduler.listJobs({ formationId: formationId(app), labels: { [LABEL_APP_ID]: app.id } }))
      .map(toProcess)
      .sort((a, b) => (a.type === b.type ? (a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : a.id < b.id ? -1 : 1) : a.type < b.type ? -1 : 1));

  async function stop(job: Process): Promise<void> {
    if (!d.discovery) throw new SlipwayError('unavailable', 'this controller cannot reach the hosts (no discovery)');
    const host = (await d.discovery.instances(HOSTS_SERVICE)).find((h) => h.id === job.host);
    if (!host) throw new SlipwayError('unavailable', `the host of process ${job.id.slice(0, 12)} is not reachable`);
    const agent = host.addr.startsWith('unix://')
      ? connectAgent({ socketPath: host.addr.slice('unix://'.length) })
      : (() => {
          const u = new URL(host.addr);
          return connectAgent({ host: u.hostname, port: Number(u.port || 2375), token: d.agentToken });
        })();
    try {
      await agent.stopContainer(job.id);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) throw new SlipwayError('not_found', `process ${job.id.slice(0, 12)} is gone already`);
      throw new SlipwayError('unavailable', `stopping process ${job.id.slice(0, 12)} on ${job.host} failed: ${(err as Error).message?.slice(0, 200) ?? 'unknown error'}`);
    }
  }

  return [
    appRoute({
      method: 'get', path: '/apps/:app/processes', tag: 'processes', summary: "The app's processes: type, state, host, restarts, exit code, release",
      role: 'view', params: AppParams, response: listOf(Process),
      handler: async ({ app }) => ({ items: await jobs(app), next: null }),
    }),
    appRoute({
      method: 'post', path: '/apps/:app/processes/restart', tag: 'processes', summary: 'Replace every process (or those of one type) with fresh ones, rolling (202; ?wait=true: 200 when done)',
      role: 'deploy', params: AppParams, query: Wait, body: z.strictObject({ type: z.string().regex(PROCESS_TYPE_RE, 'not a process type').optional() }),
      response: z.object({ deployment: Deployment.nullable() }), status: 202, errors: ['not_found', 'conflict'],
      async handler({ app, body, query, principal, ctx }) {
        const dep = await d.deploy.restart(app, body.type, { createdBy: principal.userName });
        return { deployment: await settle(d, app, dep, query.wait === 'true', ctx) };
      },
    }),
    appRoute({
      method: 'delete', path: '/apps/:app/processes/:id', tag: 'processes', summary: 'Stop one process (deregistered and drained first); the scheduler starts a replacement',
      role: 'deploy', params: AppParams.extend({ id: ProcessId }), response: Process, status: 202, errors: ['not_found', 'conflict', 'unavailable'],
      async handler({ app, params }) {
        const found = (await jobs(app)).filter((j) => j.id.startsWith(params.id));
        if (found.length === 0) throw new SlipwayError('not_found', `no process ${params.id} of ${app.name}`);
        if (found.length > 1) throw new SlipwayError('conflict', `${params.id} is the start of ${found.length} process ids; give more of it`);
        const job = found[0]!;
        if (job.state === 'pending' || !job.host) throw new SlipwayError('conflict', `process ${params.id} is not placed on a host yet`);
        const stopping = stop(job);
        stopping.catch((err: unknown) => log.warn({ err, app: app.name, process: job.id }, 'stopping a process failed'));
        await Promise.race([stopping, new Promise((r) => setTimeout(r, STOP_ANSWER_MS).unref())]);
        return { ...job, state: 'stopping' as const };
      },
    }),
  ];
}
