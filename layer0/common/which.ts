// Resolves a program name to an absolute path (conmon needs one for runc), searching PATH
// and the sbin directories a non-login root shell may leave out.
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (isAbsolute(name)) return name;
  const dirs = [...(env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}
