// Runs the network's commands (`ip`, `iptables`) with execFile: argument arrays, never a shell.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SlipwayError } from '../common/errors.ts';
import { binary } from '../common/which.ts';

const execFileP = promisify(execFile);

export interface RunResult {
  ok: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command and reports failure in the result instead of throwing. */
export async function tryRun(cmd: string, args: string[], input?: string): Promise<RunResult> {
  try {
    const child = execFileP(binary(cmd), args, { maxBuffer: 64 * 1024 * 1024 });
    if (input !== undefined) child.child.stdin!.end(input);
    const { stdout, stderr } = await child;
    return { ok: true, code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof e.code === 'string') throw new SlipwayError('runtime_error', `${cmd}: ${e.message}`, { cause: err });
    return { ok: false, code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Runs a command; a non-zero exit becomes a runtime_error carrying its stderr. */
export async function run(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await tryRun(cmd, args, input);
  if (!r.ok) {
    throw new SlipwayError('runtime_error', `${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  return r.stdout;
}
