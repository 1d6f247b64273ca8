// TLS for the router's control plane: one SecureContext per certificate record (built once per
// record and fingerprint, not per handshake), SNI lookup by exact name then one-label wildcard,
// and the self-signed default certificate for `*.<domain>` and `<domain>`, made once with the
// `openssl` CLI and kept in $SLIPWAY_HOME/router/.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { promisify } from 'node:util';
import type { Logger } from '../../layer0/common/logger.ts';
import type { CertRecord } from './types.ts';

const execFileP = promisify(execFile);

interface Entry {
  readonly id: string;
  readonly appId: string;
  readonly fingerprint: string;
  readonly notAfter: number;
  readonly ctx: SecureContext;
}

export class CertStore {
  #byId = new Map<string, Entry>();
  #exact = new Map<string, Entry[]>();
  /** `example.com` → the certificates for `*.example.com`. */
  #wild = new Map<string, Entry[]>();

  constructor(private readonly log: Logger) {}

  get size(): number {
    return this.#byId.size;
  }

  /** Replaces the set; a record whose id and fingerprint are unchanged keeps its context. */
  set(records: readonly CertRecord[]): void {
    const byId = new Map<string, Entry>();
    for (const r of records) {
      const old = this.#byId.get(r.id);
      if (old && old.fingerprint === r.fingerprint && old.appId === r.appId) {
        byId.set(r.id, old);
        continue;
      }
      try {
        const ctx = createSecureContext({ cert: r.certPem, key: r.keyPem });
        byId.set(r.id, { id: r.id, appId: r.appId, fingerprint: r.fingerprint, notAfter: Date.parse(r.notAfter) || 0, ctx });
      } catch (err) {
        this.log.warn({ cert: r.id, app: r.appId, err: (err as Error).message }, 'certificate unusable; skipped');
        continue;
      }
    }
    const exact = new Map<string, Entry[]>();
    const wild = new Map<string, Entry[]>();
    for (const r of records) {
      const e = byId.get(r.id);
      if (!e) continue;
      for (const name of r.names) {
        const n = name.toLowerCase();
        const [map, key] = n.startsWith('*.') ? [wild, n.slice(2)] : [exact, n];
        const list = map.get(key) ?? [];
        list.push(e);
        map.set(key, list);
      }
    }
    // Among several certificates for one name, the one that lasts longest comes first.
    for (const m of [exact, wild]) for (const list of m.values()) list.sort((a, b) => b.notAfter - a.notAfter);
    this.#byId = byId;
    this.#exact = exact;
    this.#wild = wild;
  }

  /**
   * The context for an SNI name: exact names first, then `*.parent` (one label, RFC 6125 §6.4.3),
   * and only a certificate of the app that owns the hostname (L1): another app's certificate for
   * the name is never served, nor any certificate for a name no app owns; null means the default.
   */
  match(servername: string, ownerAppId: string | null): SecureContext | null {
    const name = servername.toLowerCase().replace(/\.$/, '');
    const dot = name.indexOf('.');
    return pick(this.#exact.get(name), ownerAppId) ?? (dot > 0 ? pick(this.#wild.get(name.slice(dot + 1)), ownerAppId) : null);
  }
}

function pick(list: Entry[] | undefined, owner: string | null): SecureContext | null {
  if (!list?.length || owner === null) return null;
  return list.find((e) => e.appId === owner)?.ctx ?? null;
}

export interface PemPair {
  cert: string;
  key: string;
}

/**
 * The default certificate (self-signed, `*.<domain>` and `<domain>`, 10 years): reused from
 * `<dir>/default.{crt,key}` while it names the domain and has a month left, else made anew.
 */
export async function ensureDefaultCert(dir: string, domain: string, log: Logger): Promise<PemPair> {
  const crt = join(dir, 'default.crt');
  const key = join(dir, 'default.key');
  if (existsSync(crt) && existsSync(key)) {
    try {
      const pair = { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
      const x = new X509Certificate(pair.cert);
      const names = (x.subjectAltName ?? '').split(', ');
      if (names.includes(`DNS:*.${domain}`) && names.includes(`DNS:${domain}`) && Date.parse(x.validTo) > Date.now() + 30 * 86_400_000) return pair;
    } catch {
      /* unreadable: made anew below */
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${key}.${process.pid}.tmp`;
  const tmpCrt = `${crt}.${process.pid}.tmp`;
  try {
    await execFileP('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
      '-subj', `/CN=*.${domain}`, '-addext', `subjectAltName=DNS:*.${domain},DNS:${domain}`,
      '-keyout', tmp, '-out', tmpCrt,
    ], { timeout: 30_000 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, key);
    renameSync(tmpCrt, crt);
  } finally {
    rmSync(tmp, { force: true });
    rmSync(tmpCrt, { force: true });
  }
  log.info({ path: crt, domain }, 'made the default certificate (self-signed)');
  return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
}
