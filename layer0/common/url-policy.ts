// The one URL policy for anything a tenant names that the platform fetches (buildpack URLs,
// image URLs, log drains, webhooks): no loopback, link-local, private, multicast or reserved
// addresses, no cluster subnets, unless the operator allows them (SLIPWAY_URL_ALLOW). It is
// checked when the URL is accepted (checkUrl) and again at connect time (policyLookup), so a
// name that resolves somewhere else later (DNS rebinding) is still refused.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { SlipwayError } from './errors.ts';

export interface UrlPolicy {
  /** URL schemes accepted, without the colon ('https', 'http', 'syslog+tls' …). */
  schemes: readonly string[];
  /** Addresses and ranges the operator allows although they are blocked by default. */
  allow: BlockList;
  /** Host names (exact, lower case) the operator allows whatever they resolve to. */
  allowHosts: ReadonlySet<string>;
}

/** Ranges no tenant URL may reach (RFC 6890 special-purpose registries, IPv4 and IPv6). */
const BLOCKED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16],
  ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['100::', 64], ['2001::', 23],
  ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) BLOCKED.addSubnet(net, bits, 'ipv6'); // (not ::ffff:0:0/96: BlockList would match every IPv4 with it)

/**
 * The operator's policy: SLIPWAY_URL_ALLOW is a comma list of CIDRs, addresses or host names
 * that tenants' URLs may reach although they are private (tests: their own servers on loopback).
 */
export function urlPolicy(schemes: readonly string[], allowSpec = process.env.SLIPWAY_URL_ALLOW ?? ''): UrlPolicy {
  const allow = new BlockList();
  const allowHosts = new Set<string>();
  for (const raw of allowSpec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [addr, bitsText] = raw.split('/');
    const family = isIP(addr!);
    if (family) {
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (bitsText === undefined) allow.addAddress(addr!, type);
      else allow.addSubnet(addr!, Number(bitsText), type);
    } else {
      allowHosts.add(raw.toLowerCase());
    }
  }
  return { schemes, allow, allowHosts };
}

/** Whether one resolved address may be reached under the policy. */
export function addressAllowed(address: string, policy: UrlPolicy): boolean {
  const family = isIP(address);
  if (!family) return false;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (policy.allow.check(address, type)) return true;
  if (type === 'ipv6') {
    // IPv4-mapped IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address it carries.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return addressAllowed(mapped[1]!, policy);
  }
  return !BLOCKED.check(address, type);
}

function refuse(message: string): SlipwayError {
  return new SlipwayError('unprocessable', message);
}

/** Parses and checks a URL's form: scheme, no empty host. Throws a 422 naming the problem. */
export function parsePolicyUrl(raw: string, policy: UrlPolicy, what = 'URL'): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw refuse(`${what} is not a valid URL`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (!policy.schemes.includes(scheme)) throw refuse(`${what} must use ${policy.schemes.map((s) => `${s}://`).join(' or ')} (not ${scheme}://)`);
  if (!u.hostname) throw refuse(`${what} has no host`);
  return u;
}

function hostOf(u: URL): string {
  return u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/**
 * Checks a URL now: its form and every address its host resolves to. Throws a 422 that says
 * what is refused (never what the name resolved to beyond "a private address").
 */
export async function checkUrl(raw: string, policy: UrlPolicy, what = 'URL'): Promise<URL> {
  const u = parsePolicyUrl(raw, policy, what);
  const host = hostOf(u);
  if (policy.allowHosts.has(host)) return u;
  let addrs: LookupAddress[];
  try {
    addrs = await lookupAll(host);
  } catch {
    throw refuse(`${what}: the host ${host} does not resolve`);
  }
  if (addrs.length === 0 || addrs.some((a) => !addressAllowed(a.address, policy))) {
    throw refuse(`${what} points at a loopback, link-local or private address, which tenants may not reach`);
  }
  return u;
}

function lookupAll(host: string): Promise<LookupAddress[]> {
  if (isIP(host)) return Promise.resolve([{ address: host, family: isIP(host) }]);
  return new Promise((resolve, reject) => dnsLookup(host, { all: true }, (err, addrs) => (err ? reject(err) : resolve(addrs))));
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net.connect / http.request that applies the policy at connect time, so a
 * host that passed checkUrl cannot be re-pointed at a private address afterwards.
 */
export function policyLookup(policy: UrlPolicy) {
  return (hostname: string, options: { all?: boolean } | number | undefined, callback: LookupCallback): void => {
    const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    const wantAll = typeof options === 'object' && options?.all === true;
    lookupAll(host).then(
      (addrs) => {
        const trusted = policy.allowHosts.has(host);
        const ok = addrs.filter((a) => trusted || addressAllowed(a.address, policy));
        if (ok.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`${host} resolves to an address tenants may not reach`);
          err.code = 'EACCES';
          callback(err, '', 4);
          return;
        }
        if (wantAll) callback(null, ok);
        else callback(null, ok[0]!.address, ok[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 4),
    );
  };
}
