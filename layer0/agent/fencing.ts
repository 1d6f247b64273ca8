// Fencing for mutating calls: a scheduler leader sends its election token in
// `X-Slipway-Fencing-Token`; the agent remembers the newest it has seen (on disk, so a restart
// keeps refusing) and answers 409 to an older one, so a deposed leader cannot act.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { SlipwayError } from '../common/errors.ts';
import { FENCING_HEADER } from './types.ts';

export class FencingGuard {
  private newest = 0;

  constructor(private readonly file: string) {
    if (existsSync(file)) this.newest = Number(readFileSync(file, 'utf8').trim()) || 0;
  }

  get newestSeen(): number {
    return this.newest;
  }

  /** Throws for a stale token; records a newer one. Calls without the header pass (local tools, the docker CLI). */
  check(req: IncomingMessage): void {
    if (req.method === 'GET' || req.method === 'HEAD') return;
    const raw = req.headers[FENCING_HEADER];
    if (raw === undefined) return;
    const token = Number(Array.isArray(raw) ? raw[0] : raw);
    if (!Number.isSafeInteger(token) || token < 0) throw new SlipwayError('invalid_params', `invalid ${FENCING_HEADER}: ${String(raw)}`);
    if (token < this.newest) {
      throw new SlipwayError('conflict', `stale fencing token ${token}: a newer leader (token ${this.newest}) has acted on this host`);
    }
    if (token > this.newest) {
      this.newest = token;
      writeFileSync(`${this.file}.tmp`, `${token}\n`, { mode: 0o600 });
      renameSync(`${this.file}.tmp`, this.file);
    }
  }
}
