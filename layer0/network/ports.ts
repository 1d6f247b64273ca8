// Pure published-port logic: conflicts between bindings (Docker's wording) and the choice
// of a free host port in the ephemeral range for hostPort 0.
import { SlipwayError } from '../common/errors.ts';
import type { PortBinding } from '../runtime/types.ts';
import { ipToInt } from './subnet.ts';

export const EPHEMERAL_MIN = 32768;
export const EPHEMERAL_MAX = 60999;

/** Two bindings collide when protocol and port match and either host address covers the other. */
export function collides(a: PortBinding, b: PortBinding): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort
    && (a.hostIp === '' || b.hostIp === '' || a.hostIp === b.hostIp);
}

export function conflictError(b: PortBinding): SlipwayError {
  return new SlipwayError('conflict', `Bind for ${b.hostIp || '0.0.0.0'}:${b.hostPort} failed: port is already allocated`);
}

export interface PortContext {
  /** Bindings of ours already in place (other containers). */
  existing: PortBinding[];
  /** Host ports with a listening socket or someone else's DNAT rule, per protocol. */
  busy: { tcp: Set<number>; udp: Set<number> };
  /** Where to start scanning the ephemeral range (random, so instances rarely race). */
  start?: number;
}

function pickFree(b: PortBinding, taken: PortBinding[], ctx: PortContext): number {
  const span = EPHEMERAL_MAX - EPHEMERAL_MIN + 1;
  const first = (ctx.start ?? EPHEMERAL_MIN) - EPHEMERAL_MIN;
  for (let i = 0; i < span; i++) {
    const port = EPHEMERAL_MIN + ((first + i) % span);
    if (ctx.busy[b.protocol].has(port)) continue;
    // Ephemeral ports are shared by every host address: avoid the port on any address.
    if (taken.some((t) => t.protocol === b.protocol && t.hostPort === port)) continue;
    return port;
  }
  throw new SlipwayError('unavailable', 'no free host port in the ephemeral range');
}

/** Fills defaults; `0.0.0.0` and `::` mean every address (''); other host IPs must be IPv4. */
export function normalizeBinding(b: PortBinding): PortBinding {
  const hostIp = b.hostIp === '0.0.0.0' || b.hostIp === '::' ? '' : (b.hostIp ?? '');
  const protocol = b.protocol ?? 'tcp';
  try {
    if (hostIp !== '') ipToInt(hostIp);
  } catch {
    throw new SlipwayError('invalid_params', `invalid host IP ${JSON.stringify(b.hostIp)} (IPv4 only)`);
  }
  if (protocol !== 'tcp' && protocol !== 'udp') throw new SlipwayError('invalid_params', `invalid protocol ${JSON.stringify(protocol)}`);
  for (const [k, v, min] of [['containerPort', b.containerPort, 1], ['hostPort', b.hostPort ?? 0, 0]] as const) {
    if (!Number.isInteger(v) || v < min || v > 65535) throw new SlipwayError('invalid_params', `invalid ${k} ${v}`);
  }
  return { containerPort: b.containerPort, protocol, hostIp, hostPort: b.hostPort ?? 0 };
}

/** Resolves hostPort 0 and rejects collisions with ours (and within the request). */
export function resolvePorts(req: PortBinding[], ctx: PortContext): PortBinding[] {
  const taken = [...ctx.existing];
  const out: PortBinding[] = [];
  // Explicit ports first, so a picked port never steals one asked for later in the list.
  const ordered = [...req.keys()].sort((i, j) => Number(req[i]!.hostPort === 0) - Number(req[j]!.hostPort === 0));
  for (const i of ordered) {
    const b = normalizeBinding(req[i]!);
    if (b.hostPort === 0) b.hostPort = pickFree(b, taken, ctx);
    else if (taken.some((t) => collides(t, b))) throw conflictError(b);
    taken.push(b);
    out[i] = b;
  }
  return out;
}
