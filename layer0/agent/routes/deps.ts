// What every routes file receives (no singletons): the runtime, the image store, the event
// hub, facts about the host gathered once at start, and the logger.
import type { FetchAuth } from '../fetch-auth.ts';
import type { Logger } from '../../common/logger.ts';
import type { ImageStore } from '../../runtime/images/store.ts';
import type { ContainerRuntime } from '../../runtime/types.ts';
import type { EventHub } from '../events.ts';
import type { JobRegistrar } from '../job-registrar.ts';

export interface HostFacts {
  id: string;
  name: string;
  kernelVersion: string;
  operatingSystem: string;
  /** CPUs of the machine: the ceiling of NanoCpus. */
  machineCpus: number;
  runcVersion: string;
  runcCommit: string;
  rootDir: string;
}

export interface AgentDeps {
  runtime: ContainerRuntime;
  images: ImageStore;
  events: EventHub;
  host: HostFacts;
  /** Advertised in /info (NCPU, MemTotal): `--cpus` / `--memory`, default the machine's. */
  capacity: { memory: number; cpus: number };
  log: Logger;
  /** In a cluster: deregisters and drains a job before it is stopped. */
  registrar?: JobRegistrar;
  /** Bearer tokens for image URL fetches, per origin (fetch-auth.ts). */
  fetchAuth?: readonly FetchAuth[];
}
