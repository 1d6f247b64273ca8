// Host networking in layer 0's words: one bridge and /24 per host, a netns + veth per
// container, published ports as iptables DNAT rules. Names carry the instance prefix.
import type { PortBinding } from '../runtime/types.ts';

export interface NetworkConfig {
  /** Instance prefix (DESIGN.md): every bridge, veth, netns and chain name starts with it. */
  prefix: string;
  /** Where the address allocations are kept (survives agent restarts). */
  stateDir: string;
  /** A /24 inside 172.31.0.0/16, e.g. '172.31.7.0/24'; absent = the first free one. */
  subnet?: string;
  /**
   * The host address a binding with no host IP is published on (Docker's `dockerd --ip`): where
   * the router and health checks reach this host. '' or absent: every local address.
   */
  publishIp?: string;
  /**
   * Addresses or CIDRs containers never reach (the cluster's hosts: their agents, Redis,
   * blobstore, controller, router admin). The host itself is closed to them anyway (see README).
   */
  deny?: string[];
}

/** The Docker label that names a container's isolation group (an opaque string; layer 1 puts its app id there). */
export const ISOLATION_LABEL = 'slipway.isolation';

export interface AttachRequest {
  containerId: string;
  ports: PortBinding[];
  /**
   * Containers of one group reach each other; containers of different groups never do (nor
   * through published ports). Absent or '': a group of its own.
   */
  group?: string;
}

export interface Attachment {
  netnsName: string;
  netnsPath: string;
  ip: string;
  gateway: string;
  prefixLength: number;
  mac: string;
  vethHost: string;
  /** Resolved: hostPort never 0. */
  ports: PortBinding[];
  /** The isolation group asked for (absent: alone). */
  group?: string;
}

export interface HostNetwork {
  readonly bridge: string;
  readonly subnet: string;
  readonly gateway: string;
  /** Creates the bridge, NAT and filter chains if missing; idempotent. */
  setup(): Promise<void>;
  /** Creates netns + veth, assigns an address, publishes ports. Idempotent per container id. */
  attach(req: AttachRequest): Promise<Attachment>;
  /** Re-registers an attachment found on disk after an agent restart (no kernel changes). */
  adopt(containerId: string, attachment: Attachment): void;
  /** Removes the netns, veth, port rules and the address; idempotent. */
  detach(containerId: string): Promise<void>;
  /**
   * Removes what a crash left: attachments of containers not in `keep` (every container the
   * runtime still knows), and this prefix's netns, veths and DNAT rules no attachment holds.
   * Resolves with a line per removed object.
   */
  prune(keep: Iterable<string>): Promise<string[]>;
  /** Replaces the configured `deny` list (a cluster's hosts change); idempotent. */
  setDeny(cidrs: string[]): Promise<void>;
  /** Removes everything this instance made: rules, chains, bridge, every netns and veth with the prefix. */
  teardown(): Promise<void>;
}
