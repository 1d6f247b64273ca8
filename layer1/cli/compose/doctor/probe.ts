// The real HostProbe: files under /proc, a listen() per port, statfs, `<program> --version`.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { slipwayPaths } from '../../../../layer0/common/paths.ts';
import { binary } from '../../../../layer0/common/which.ts';
import { hostCgroups } from '../../../../layer0/runtime/index.ts';
import type { HostProbe } from './checks.ts';

function firstLine(program: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(binary(program), args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(null);
      const line = `${stdout}\n${stderr}`.split('\n').map((l) => l.trim()).find(Boolean);
      resolve(line ?? (err ? null : ''));
    });
  });
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function freeBytes(path: string): number {
  for (let p = path; ; p = dirname(p)) {
    try {
      const s = statfsSync(p);
      return s.bavail * s.bsize;
    } catch {
      if (p === dirname(p)) return 0;
    }
  }
}

/** The pid in $SLIPWAY_RUN/slipway.pid when that process is a live `slipway up`. */
function platformPid(env: NodeJS.ProcessEnv): number | null {
  try {
    const pid = Number(readFileSync(`${slipwayPaths(env).run}/slipway.pid`, 'utf8').trim());
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return pid > 0 && cmd.includes('up') ? pid : null;
  } catch {
    return null;
  }
}

export function hostProbe(env: NodeJS.ProcessEnv = process.env): HostProbe {
  return {
    env,
    uid: process.getuid?.() ?? -1,
    nodeVersion: process.versions.node,
    readFile: (p) => {
      try {
        return readFileSync(p, 'utf8');
      } catch {
        return null;
      }
    },
    exists: existsSync,
    cgroups: hostCgroups,
    version: (program, args = ['--version']) => firstLine(program, args),
    portFree,
    freeBytes,
    platformPid: () => platformPid(env),
  };
}
