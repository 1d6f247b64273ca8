// Pure IPv4 arithmetic: CIDR parsing, overlap tests, the choice of a free /24 inside
// 172.31.0.0/16, and Docker-style MAC addresses derived from an IP.

export const POOL = '172.31.0.0/16';

export interface Cidr {
  base: number;
  bits: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`invalid IPv4 address ${JSON.stringify(ip)}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`invalid IPv4 address ${JSON.stringify(ip)}`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** Parses `a.b.c.d/n` (a bare address is a /32) and normalises the base to the network. */
export function parseCidr(cidr: string): Cidr {
  const [ip, len = '32'] = cidr.split('/');
  const bits = Number(len);
  if (!/^\d{1,2}$/.test(len) || bits > 32) throw new Error(`invalid CIDR ${JSON.stringify(cidr)}`);
  return { base: (ipToInt(ip!) & mask(bits)) >>> 0, bits };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.bits}`;
}

export function contains(outer: Cidr, ip: number): boolean {
  return ((ip & mask(outer.bits)) >>> 0) === outer.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const bits = Math.min(a.bits, b.bits);
  return ((a.base & mask(bits)) >>> 0) === ((b.base & mask(bits)) >>> 0);
}

/** An IPv4 address or CIDR, normalised (`10.0.0.5` → `10.0.0.5/32`); throws on anything else. */
export function checkCidr(cidr: string): string {
  return formatCidr(parseCidr(cidr.trim()));
}

/** A /24 inside the pool, normalised; throws on anything else. */
export function checkSubnet(subnet: string): string {
  const c = parseCidr(subnet);
  if (c.bits !== 24 || !contains(parseCidr(POOL), c.base)) {
    throw new Error(`subnet ${subnet} is not a /24 inside ${POOL}`);
  }
  return formatCidr(c);
}

/**
 * The first /24 of the pool that overlaps none of `taken` (route destinations and interface
 * addresses, as CIDRs; `default` routes are ignored since they overlap everything).
 */
export function pickSubnet(taken: string[]): string | null {
  const used = taken.filter((t) => t !== 'default' && t !== '').map(parseCidr);
  const pool = parseCidr(POOL);
  for (let i = 0; i < 256; i++) {
    const cand: Cidr = { base: (pool.base + i * 256) >>> 0, bits: 24 };
    if (!used.some((u) => u.bits > 0 && overlaps(u, cand))) return formatCidr(cand);
  }
  return null;
}

export function gatewayOf(subnet: string): string {
  return intToIp(parseCidr(subnet).base + 1);
}

/** Host addresses .2–.254 of a /24 in order. */
export function hostAddresses(subnet: string): string[] {
  const base = parseCidr(subnet).base;
  return Array.from({ length: 253 }, (_, i) => intToIp(base + 2 + i));
}

/** The lowest free host address, or null when the /24 is full. */
export function pickAddress(subnet: string, used: Iterable<string>): string | null {
  const taken = new Set(used);
  return hostAddresses(subnet).find((ip) => !taken.has(ip)) ?? null;
}

/** Docker's scheme: 02:42 followed by the four bytes of the IPv4 address. */
export function macFromIp(ip: string): string {
  const n = ipToInt(ip);
  const bytes = [0x02, 0x42, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
