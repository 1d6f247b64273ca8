// `slipway doctor [--json] [--network]` and the same checks run by `slipway up` before it starts
// anything. Exit 0 when nothing fails (warnings allowed), 1 when a check fails.
import { color, printJson } from '../../client/output.ts';
import { CHECKS, runChecks, type Check, type CheckResult } from './checks.ts';
import { hostProbe } from './probe.ts';
import { npmRegistryCheck } from './network.ts';

const MARK = { ok: () => color.green('✓'), warn: () => color.yellow('!'), fail: () => color.red('✗') };

export function formatResult(r: CheckResult): string {
  return `${MARK[r.level]()} ${r.name.padEnd(12)} ${r.detail}${r.fix ? ` — ${r.level === 'fail' ? 'fix' : 'hint'}: ${r.fix}` : ''}`;
}

export async function doctorCommand(opts: { json?: boolean; network?: boolean }, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const checks: Check[] = opts.network ? [...CHECKS, npmRegistryCheck] : CHECKS;
  const results = await runChecks(hostProbe(env), checks);
  const failed = results.some((r) => r.level === 'fail');
  if (opts.json) printJson({ ok: !failed, checks: results });
  else for (const r of results) process.stdout.write(`${formatResult(r)}\n`);
  process.exitCode = failed ? 1 : 0;
}

/** For `slipway up`: the failing checks' lines, or null when it can start. */
export async function upPreflight(env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const results = await runChecks(hostProbe(env), CHECKS);
  const failed = results.filter((r) => r.level === 'fail');
  if (!failed.length) return null;
  return ['the platform cannot start here (`slipway doctor` checks it all):', ...failed.map(formatResult)].join('\n');
}
