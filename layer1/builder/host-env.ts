// What a build container gets from its host (DESIGN.md "How containers run"): the npm registry
// setting (`npm config get registry`, read once at start) and the CA bundle (NODE_EXTRA_CA_CERTS,
// else the system bundle): the machine adds its own certificate authorities and npm fails
// without them.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** Where the host's bundle is mounted read-only in build containers. */
export const CONTAINER_CA_PATH = '/etc/ssl/certs/slipway-host-ca.crt';

export interface HostBuildEnv {
  npmRegistry: string;
  /** Host path of the CA bundle, or null when the host has none. */
  caBundle: string | null;
}

export function npmRegistry(timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    execFile('npm', ['config', 'get', 'registry'], { timeout: timeoutMs }, (err, stdout) => {
      const v = String(stdout ?? '').trim();
      resolve(!err && /^https?:\/\//.test(v) ? v : DEFAULT_REGISTRY);
    });
  });
}

export function hostCaBundle(env: NodeJS.ProcessEnv = process.env): string | null {
  const extra = env.NODE_EXTRA_CA_CERTS;
  if (extra && existsSync(extra)) return extra;
  return existsSync(SYSTEM_CA_BUNDLE) ? SYSTEM_CA_BUNDLE : null;
}

export async function readHostBuildEnv(): Promise<HostBuildEnv> {
  return { npmRegistry: await npmRegistry(), caBundle: hostCaBundle() };
}
