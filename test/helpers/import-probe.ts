// Run as a child (`node --import tsx test/helpers/import-probe.ts FILE...`) by the import test:
// patches every way to start a process and the executable-bit checks a PATH lookup makes,
// imports each file, and prints one JSON line of what happened during the imports.
import childProcess from 'node:child_process';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { pathToFileURL } from 'node:url';

const spawned: string[] = [];
const lookups: string[] = [];
const failed: { file: string; error: string }[] = [];

const cp = childProcess as unknown as Record<string, (...a: unknown[]) => unknown>;
for (const fn of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
  const orig = cp[fn];
  cp[fn] = (...a: unknown[]) => {
    spawned.push(`${fn} ${String(a[0])}`);
    return orig(...a);
  };
}
const f = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
const fp = fs.promises as unknown as Record<string, (...a: unknown[]) => unknown>;
for (const [obj, fn] of [[f, 'accessSync'], [f, 'access'], [fp, 'access']] as const) {
  const orig = obj[fn];
  obj[fn] = (...a: unknown[]) => {
    if (typeof a[1] === 'number' && (a[1] & fs.constants.X_OK)) lookups.push(`${fn} ${String(a[0])}`);
    return orig(...a);
  };
}
syncBuiltinESMExports();

for (const file of process.argv.slice(2)) {
  try {
    await import(pathToFileURL(file).href);
  } catch (err) {
    failed.push({ file, error: err instanceof Error ? err.message : String(err) });
  }
}
process.stdout.write(`${JSON.stringify({ spawned, lookups, failed })}\n`);
// Some modules hold handles open (none should, but a probe must end either way).
process.exit(0);
