// The typed scheduler client (how layer 1 talks to the scheduler): formations in, observed jobs
// out, over the same Redis the leader uses. Bad input is refused here, before anything is
// written, so nothing is ever half-created.
import { SlipwayError } from '../common/errors.ts';
import { connectRedis, type Redis } from '../discovery/redis.ts';
import { HOSTS_SERVICE, type Discovery } from '../discovery/types.ts';
import { agentFor, hostFromInstance } from './agents.ts';
import { SchedulerStore } from './store.ts';
import { FormationSchema, type Formation, type FormationInput, type Job, type JobEvent, type SchedulerClient } from './types.ts';

export interface SchedulerClientOptions {
  redisUrl: string;
  keyPrefix?: string;
  /** With discovery (and the agents' token), putFormation checks that some host has each image. */
  discovery?: Discovery;
  agentToken?: string;
}

export function createSchedulerClient(o: SchedulerClientOptions): SchedulerClient & { close(): void } {
  const redis: Redis = connectRedis(o.redisUrl, { name: 'scheduler-client' });
  const store = new SchedulerStore(redis, o.keyPrefix);
  const readers = new Set<Redis>();

  async function imageKnown(image: string): Promise<boolean> {
    if (!o.discovery) return true;
    const hosts = (await o.discovery.instances(HOSTS_SERVICE)).map(hostFromInstance);
    for (const h of hosts) {
      try {
        await agentFor(h, o.agentToken).inspectImage(image);
        return true;
      } catch {
        /* not on this host */
      }
    }
    return false;
  }

  return {
    async putFormation(input: FormationInput): Promise<Formation> {
      const parsed = FormationSchema.safeParse(input);
      if (!parsed.success) {
        throw new SlipwayError('invalid_params', parsed.error.issues.map((i) => `${i.path.join('.') || 'formation'}: ${i.message}`).join('; '));
      }
      for (const [name, job] of Object.entries(parsed.data.jobs)) {
        if (!job.imageUrl && !(await imageKnown(job.image))) {
          throw new SlipwayError('invalid_params', `jobs.${name}.image: unknown image ${JSON.stringify(job.image)}: no host has it and no imageUrl says where to fetch it`);
        }
      }
      await store.putFormation(parsed.data);
      return parsed.data;
    },
    async deleteFormation(id: string): Promise<void> {
      if (!(await store.deleteFormation(id))) throw new SlipwayError('not_found', `no formation ${JSON.stringify(id)}`);
    },
    getFormation: (id) => store.getFormation(id),
    listFormations: () => store.formations(),
    async listJobs(filter = {}): Promise<Job[]> {
      return (await store.jobs()).filter((j) =>
        (!filter.formationId || j.formationId === filter.formationId) &&
        Object.entries(filter.labels ?? {}).every(([k, v]) => j.labels[k] === v));
    },
    async *watchJobs(signal?: AbortSignal): AsyncIterable<JobEvent> {
      const reader = redis.duplicate();
      readers.add(reader);
      try {
        yield* store.watch(reader, signal);
      } finally {
        readers.delete(reader);
        reader.disconnect();
      }
    },
    close() {
      for (const r of readers) r.disconnect();
      redis.disconnect();
    },
  };
}
