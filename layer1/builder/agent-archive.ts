// `docker cp` in and out of a build container (PUT/GET /containers/{id}/archive), the two agent
// calls the typed agent client does not carry yet. Same connection options as connectAgent.
// TODO(#6): move into layer0/agent/client.ts as putArchive/getArchive.
import Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { AgentClientOptions } from '../../layer0/agent/types.ts';

export interface AgentArchive {
  /** Extracts the tar stream into `path` (a directory that exists) in the container. */
  put(id: string, path: string, tar: Readable): Promise<void>;
  /** A tar stream of `path` in the container (its base name is the top entry). */
  get(id: string, path: string): Promise<Readable>;
}

export function agentArchive(opts: AgentClientOptions): AgentArchive {
  const headers = { ...opts.headers, ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}) };
  const docker = opts.socketPath
    ? new Docker({ socketPath: opts.socketPath, headers } as Docker.DockerOptions)
    : new Docker({ host: opts.host, port: opts.port, protocol: 'http', headers } as Docker.DockerOptions);
  return {
    async put(id, path, tar) {
      const res = await docker.getContainer(id).putArchive(tar, { path });
      // docker-modem hands back the (empty) response stream: drain it.
      (res as unknown as NodeJS.ReadableStream | undefined)?.resume?.();
    },
    async get(id, path) {
      return (await docker.getContainer(id).getArchive({ path })) as unknown as Readable;
    },
  };
}
