// What each benchmark needs from the host, checked before it starts (issue 12: `npm run bench --
// router` where `npm test` never ran died with "taskset: failed to execute nginx" and a stack
// trace). Missing Debian packages are installed as root (deploy/install-deps --test); anything
// still missing is named with how to get it, and the caller exits 2.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { which } from '../../layer0/common/which.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** A program a benchmark runs, and where it comes from. */
interface Need {
  command: string;
  /** A file instead of a PATH lookup (busybox-static's /bin/busybox). */
  path?: string;
  how: string;
}

const deb = (pkg: string) => `Debian package ${pkg} (sudo bash deploy/install-deps --test)`;
const need = (command: string, how: string, path?: string): Need => ({ command, how, path });

const CONTAINERS = [
  need('runc', deb('runc')), need('conmon', deb('conmon')), need('ip', deb('iproute2')), need('iptables', deb('iptables')),
  need('busybox', deb('busybox-static'), '/bin/busybox'),
];
const REDIS = need('redis-server', deb('redis-server'));
const DOCKER = need('docker', 'the Docker CLI alone (no daemon): a static build from https://download.docker.com/linux/static/stable/x86_64/ put on PATH');

export const BENCH_NEEDS: Record<string, Need[]> = {
  'container-start': [...CONTAINERS, DOCKER],
  'scheduler-placement': [],
  failover: [...CONTAINERS, REDIS],
  'api-latency': [REDIS],
  router: [need('nginx', deb('nginx-light')), need('wrk', deb('wrk')), need('taskset', deb('util-linux'))],
  deploy: [...CONTAINERS, REDIS, DOCKER, need('git', deb('git')), need('mmdebstrap', deb('mmdebstrap'))],
  logs: [...CONTAINERS, REDIS, need('redis-benchmark', deb('redis-tools'))],
};

export function missingFor(needs: Need[]): Need[] {
  return needs.filter((n) => (n.path ? !existsSync(n.path) : !which(n.command)));
}

/** Null when the bench can run; else the message to print (one line per missing program). */
export function preflight(name: string): string | null {
  const needs = BENCH_NEEDS[name] ?? [];
  let missing = missingFor(needs);
  if (missing.length && missing.some((n) => n.how.startsWith('Debian')) && process.getuid?.() === 0) {
    // The same install `npm test` does; its own output says what it installs.
    spawnSync('bash', [join(ROOT, 'deploy/install-deps'), '--test'], { stdio: ['ignore', 'inherit', 'inherit'] });
    missing = missingFor(needs);
  }
  if (!missing.length) return null;
  return [`bench ${name}: missing what it needs:`, ...missing.map((n) => `  ${n.command}: ${n.how}`)].join('\n');
}
