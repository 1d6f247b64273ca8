// app.json at the root of a pushed tree: what the push pipeline reads from it (the per-process-type
// health checks, Dokku's `healthchecks` shape). Read straight from the pushed tar, before the build.
import { execFile } from 'node:child_process';
import { z } from 'zod';
import { HealthcheckSchema, PROCESS_TYPE_RE, type Healthchecks } from '../deploy/index.ts';

const MAX_BYTES = 256 * 1024;

/** `healthchecks: { web: [{ type, path, port, timeout, attempts }] }` (an array as Dokku writes it, or one object). */
const AppJsonSchema = z.object({
  healthchecks: z.record(z.string().regex(PROCESS_TYPE_RE, 'not a process type'), z.union([HealthcheckSchema, z.array(HealthcheckSchema).max(10)])).optional(),
}).passthrough();

export interface AppJson {
  healthchecks: Healthchecks;
}

/** Parses app.json text; throws an Error saying what is wrong (shown to the pusher). */
export function parseAppJson(text: string): AppJson {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`app.json is not valid JSON: ${(err as Error).message}\nFix it and push again.`);
  }
  const r = AppJsonSchema.safeParse(raw);
  if (!r.success) throw new Error(`app.json: ${r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}\nFix it and push again.`);
  const healthchecks: Healthchecks = {};
  for (const [type, checks] of Object.entries(r.data.healthchecks ?? {})) {
    // Of several checks (Dokku: startup, liveness…), the one gating the rollout: `startup`, else the first.
    const list = Array.isArray(checks) ? checks : [checks];
    const pick = list.find((c) => c.type === 'startup') ?? list[0];
    if (pick) healthchecks[type] = pick;
  }
  return { healthchecks };
}

/** app.json of a `git archive` tar, or null when it has none; one over 256 KiB refuses the push. */
export function readAppJson(tarPath: string): Promise<AppJson | null> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, LC_ALL: 'C' }; // tar's "Not found in archive" untranslated
    execFile('tar', ['-xOf', tarPath, 'app.json'], { maxBuffer: MAX_BYTES, encoding: 'utf8', env }, (err, out, stderr) => {
      if (err && (err as { code?: unknown }).code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
        return reject(new Error(`app.json is larger than ${MAX_BYTES / 1024} KiB, which is more than Slipway reads.\nMake it smaller and push again.`));
      }
      if (err && /Not found in archive/.test(stderr)) return resolve(null);
      if (err) return reject(new Error(`app.json could not be read from the pushed tree: ${(stderr.trim() || err.message).slice(0, 300)}`));
      try {
        resolve(parseAppJson(out));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}
