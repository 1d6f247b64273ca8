// HostNetwork on one Linux host: bridge + /24, a netns and veth per container, published
// ports as DNAT rules. Operations run one at a time; state survives in stateDir.
import { silentLogger, type Logger } from '../common/logger.ts';
import { SlipwayError } from '../common/errors.ts';
import type { PortBinding } from '../runtime/types.ts';
import { cleanupByPrefix } from './cleanup.ts';
import * as ipt from './iptables.ts';
import { addMember, dropGroupChain, ensureMember, groupOf, reconcile, removeMember, type Member } from './isolation.ts';
import * as links from './links.ts';
import { bridgeName, chainName, checkPrefix, netnsName, ownedBy, vethHostName, vethPeerTempName } from './names.ts';
import { busyPorts, ensureBridgeNetfilter, natPorts, sysctl, trySysctl, takenRanges } from './probe.ts';
import { EPHEMERAL_MAX, EPHEMERAL_MIN, normalizeBinding, resolvePorts } from './ports.ts';
import { baseRules, denyRules, jumpRules, ourChains, portRule, type RuleContext } from './rules.ts';
import { loadState, saveState, withHostLock, type NetworkState } from './state.ts';
import { checkCidr, checkSubnet, gatewayOf, macFromIp, overlaps, parseCidr, pickAddress, pickSubnet } from './subnet.ts';
import type { AttachRequest, Attachment, HostNetwork, NetworkConfig } from './types.ts';

export class BridgeNetwork implements HostNetwork {
  readonly bridge: string;
  private readonly prefix: string;
  private state: NetworkState;
  private ready = false;
  private deny: string[];
  /** Addresses of detached containers whose filter rules are still being removed: not handed out meanwhile. */
  private readonly releasing = new Map<string, Promise<void>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly config: NetworkConfig, private readonly log: Logger = silentLogger) {
    checkPrefix(config.prefix);
    this.prefix = config.prefix;
    this.bridge = bridgeName(config.prefix);
    this.state = loadState(config.stateDir);
    if (config.subnet !== undefined) this.state.subnet = checkSubnet(config.subnet);
    this.deny = (config.deny ?? []).map(checkCidr);
  }

  get subnet(): string {
    return this.state.subnet ?? '';
  }

  get gateway(): string {
    return this.state.subnet ? gatewayOf(this.state.subnet) : '';
  }

  setup(): Promise<void> {
    return this.serial(() => this.ensureSetup());
  }

  attach(req: AttachRequest): Promise<Attachment> {
    return this.serial(() => this.doAttach(req));
  }

  adopt(containerId: string, attachment: Attachment): void {
    // A record written before groups existed has none: keep what the state file knows.
    const group = attachment.group ?? this.state.attachments[containerId]?.group;
    this.state.attachments[containerId] = { ...structuredClone(attachment), ...(group ? { group } : {}) };
    this.serial(() => this.save()).catch((err) => this.log.error({ err }, 'saving adopted attachment failed'));
  }

  detach(containerId: string): Promise<void> {
    return this.serial(() => this.doDetach(containerId));
  }

  setDeny(cidrs: string[]): Promise<void> {
    const next = [...new Set(cidrs.map(checkCidr))].sort();
    return this.serial(async () => {
      if (this.ready && next.join() === this.deny.join()) return;
      this.deny = next;
      if (this.ready) await ipt.syncChain('filter', chainName(this.prefix, 'DENY'), denyRules(this.prefix, this.deny));
    });
  }

  prune(keep: Iterable<string>): Promise<string[]> {
    const ids = new Set(keep);
    return this.serial(() => this.doPrune(ids));
  }

  teardown(): Promise<void> {
    return this.serial(async () => {
      await this.released();
      const removed = await cleanupByPrefix(this.prefix);
      this.log.info({ removed: removed.length }, 'network torn down');
      this.state.attachments = {};
      this.ready = false;
      await this.save();
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private save(): Promise<void> {
    return saveState(this.config.stateDir, this.state);
  }

  private ctx(): RuleContext {
    return { prefix: this.prefix, bridge: this.bridge, subnet: this.subnet };
  }

  private async ensureSetup(): Promise<void> {
    if (this.ready) return;
    await sysctl('net.ipv4.ip_forward', '1');
    // Bridged frames must go through iptables, or the isolation rules never see container-to-container traffic.
    await ensureBridgeNetfilter();
    // Earlier versions set route_localnet on every interface: 127/8 from any neighbour (CVE-2020-8558).
    if (await trySysctl('net.ipv4.conf.all.route_localnet', '0')) this.log.warn('turned net.ipv4.conf.all.route_localnet off (only the bridge needs it)');
    await withHostLock(async () => {
      const taken = await takenRanges(this.bridge);
      if (this.state.subnet === null) {
        this.state.subnet = pickSubnet(taken);
        if (this.state.subnet === null) throw new SlipwayError('unavailable', 'no free /24 left in 172.31.0.0/16');
      }
      const clashing = () => taken.find((t) => t !== 'default' && overlaps(parseCidr(t), parseCidr(this.subnet)));
      // The remembered subnet was freed by a `down` and taken since by another instance: with no
      // container attached and none asked for, any free /24 will do.
      if (clashing() !== undefined && this.config.subnet === undefined && Object.keys(this.state.attachments).length === 0) {
        const next = pickSubnet(taken);
        if (next !== null) {
          this.log.warn({ was: this.state.subnet, now: next }, 'the remembered subnet is taken on this host; using another');
          this.state.subnet = next;
        }
      }
      const clash = clashing();
      if (clash !== undefined) throw new SlipwayError('conflict', `subnet ${this.subnet} overlaps ${clash} on this host`);
      await links.ensureBridge(this.bridge, `${this.gateway}/24`);
    });
    // DNAT of 127.0.0.1 to the bridge (Docker's userland-proxy=false does the same): this interface only.
    await sysctl(`net.ipv4.conf.${this.bridge}.route_localnet`, '1');
    await trySysctl(`net.ipv6.conf.${this.bridge}.disable_ipv6`, '1');
    const base = baseRules(this.ctx());
    const v6 = ipt.hostHasIpv6();
    const chains = ourChains(this.prefix).filter((c) => c.family !== 'ip6' || v6);
    // All chains exist before any rule jumps into one (FWD → ISO, DENY).
    for (const { family, table, chain } of chains) await ipt.ensureChain(table, chain, family);
    for (const { family, table, chain, kind, dynamic } of chains) {
      if (kind === 'DENY') await ipt.syncChain(table, chain, denyRules(this.prefix, this.deny));
      else if (!dynamic) await ipt.syncChain(table, chain, base.filter((r) => (r.family ?? 'ip4') === family && r.chain === chain), family);
    }
    for (const j of jumpRules(this.ctx())) if (j.family !== 'ip6' || v6) await ipt.ensureRule(j, 1);
    await this.save();
    this.ready = true;
    this.log.info({ bridge: this.bridge, subnet: this.subnet }, 'network ready');
  }

  private others(containerId: string): Attachment[] {
    return Object.entries(this.state.attachments).filter(([id]) => id !== containerId).map(([, a]) => a);
  }

  private async doAttach(req: AttachRequest): Promise<Attachment> {
    await this.ensureSetup();
    const id = req.containerId;
    const prev = this.state.attachments[id];
    if (prev && links.netnsExists(prev.netnsName) && (await links.linkExists(prev.vethHost))) {
      for (const p of prev.ports) await ipt.ensureRule(portRule(this.prefix, prev.ip, p));
      await ensureMember(this.prefix, memberOf(id, prev));
      return structuredClone(prev);
    }
    if (prev) {
      await this.removeKernel(prev.netnsName, prev.vethHost, prev.ip);
      await removeMember(this.prefix, memberOf(id, prev));
    }
    const others = this.others(id);
    const ip = pickAddress(this.subnet, [...others.map((a) => a.ip), ...this.releasing.keys()]);
    if (ip === null) throw new SlipwayError('unavailable', `no free address left in ${this.subnet}`);
    const ports = await this.resolve(req.ports, others);
    const netns = netnsName(this.prefix, id);
    let salt = 0;
    while (others.some((a) => a.vethHost === vethHostName(this.prefix, id, salt))) salt++;
    const vethHost = vethHostName(this.prefix, id, salt);
    // Leftovers under these names can only be this container's, from a crashed attach (its
    // port rules were recorded with it and went with `prev` above).
    await this.removeKernel(netns, vethHost, null);
    const att: Attachment = {
      netnsName: netns, netnsPath: links.netnsPath(netns), ip, gateway: this.gateway, prefixLength: 24,
      mac: macFromIp(ip), vethHost, ports, ...(req.group ? { group: req.group } : {}),
    };
    const newGroup = this.lastOfGroup(id, att);
    // Reserve on disk first: a crash now leaves a record that attach or detach can finish.
    this.state.attachments[id] = att;
    await this.save();
    try {
      // The filter rules go in beside the links (they name the address and veth, not the objects):
      // the container's process starts only after all of it.
      await Promise.all([
        links.createNetnsWithVeth({
          netns, hostName: vethHost, tempName: vethPeerTempName(vethHost, this.prefix), bridge: this.bridge,
          mac: att.mac, address: `${ip}/24`, gateway: this.gateway,
        }),
        addMember(this.prefix, memberOf(id, att), newGroup),
        ipt.applyBatch('ip4', 'nat', ports.map((p) => ipt.ruleLine('-A', portRule(this.prefix, ip, p)))).then(async (ok) => {
          if (!ok) for (const p of ports) await ipt.ensureRule(portRule(this.prefix, ip, p));
        }),
      ]);
    } catch (err) {
      await this.removeKernel(netns, vethHost, ip).catch(() => undefined);
      await removeMember(this.prefix, memberOf(id, att)).catch(() => undefined);
      delete this.state.attachments[id];
      await this.save();
      throw err;
    }
    this.log.debug({ containerId: id, ip, ports }, 'attached');
    return structuredClone(att);
  }

  /** Whether no attachment but `containerId`'s own is in `att`'s group. */
  private lastOfGroup(containerId: string, att: Attachment): boolean {
    const group = groupOf(this.prefix, memberOf(containerId, att));
    return !Object.entries(this.state.attachments).some(([id, a]) => id !== containerId && groupOf(this.prefix, memberOf(id, a)) === group);
  }

  /**
   * A detached container's filter rules go in the background (they name only its address and
   * veth, both gone from use: the address stays out of pickAddress until then), so the next
   * container's start does not wait for them; an emptied group's chain goes in the queue, once
   * no attachment is in the group any more.
   */
  private release(containerId: string, att: Attachment): void {
    const m = memberOf(containerId, att);
    const group = groupOf(this.prefix, m);
    const done = removeMember(this.prefix, m)
      .catch((err: unknown) => this.log.warn({ err, ip: att.ip }, 'removing a detached container\'s filter rules failed'))
      .finally(() => this.releasing.delete(att.ip));
    this.releasing.set(att.ip, done);
    void done.then(() => {
      if (group === null || !this.lastOfGroup(containerId, att)) return;
      return this.serial(async () => {
        if (this.lastOfGroup(containerId, att)) await dropGroupChain(group);
      });
    }).catch((err: unknown) => this.log.warn({ err, group }, 'removing an empty group chain failed'));
  }

  /** Waits for background rule removals (before a prune or teardown looks at the chains). */
  private async released(): Promise<void> {
    await Promise.all(this.releasing.values());
  }

  private async resolve(asked: PortBinding[], others: Attachment[]): Promise<PortBinding[]> {
    if (asked.length === 0) return [];
    // Bindings to every address go to the publish address only (where the router reaches them).
    const publishIp = this.config.publishIp ?? '';
    const req = asked.map((b) => {
      const n = normalizeBinding(b);
      return n.hostIp === '' ? { ...n, hostIp: publishIp } : n;
    });
    const busy = await busyPorts();
    const nat = natPorts(await ipt.save('nat'));
    for (const proto of ['tcp', 'udp'] as const) for (const p of nat[proto]) busy[proto].add(p);
    const start = EPHEMERAL_MIN + Math.floor(Math.random() * (EPHEMERAL_MAX - EPHEMERAL_MIN + 1));
    return resolvePorts(req, { existing: others.flatMap((a) => a.ports), busy, start });
  }

  private async doDetach(containerId: string): Promise<void> {
    const att = this.state.attachments[containerId];
    const netns = att?.netnsName ?? netnsName(this.prefix, containerId);
    const veth = att?.vethHost ?? vethHostName(this.prefix, containerId);
    const ip = att?.ip ?? (await links.netnsAddress(netns));
    if (att) {
      const rules = att.ports.map((p) => portRule(this.prefix, att.ip, p));
      if (!(await ipt.applyBatch('ip4', 'nat', rules.map((r) => ipt.ruleLine('-D', r))))) for (const r of rules) await ipt.deleteRule(r);
    }
    // With a record, its port rules are exactly the ones just deleted; without, search for them.
    await this.removeKernel(netns, veth, att ? null : ip);
    if (att) {
      delete this.state.attachments[containerId];
      await this.save();
      this.release(containerId, att);
    }
  }

  /**
   * After a crash: attachments of containers that are gone, then every netns, veth and DNAT rule
   * of this prefix that no remaining attachment holds (a crash between two steps, a lost record).
   */
  private async doPrune(keep: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    await this.released();
    for (const id of Object.keys(this.state.attachments)) {
      if (keep.has(id)) continue;
      await this.doDetach(id);
      removed.push(`attachment ${id}`);
    }
    const held = Object.values(this.state.attachments);
    const netns = new Set(held.map((a) => a.netnsName));
    const veths = new Set(held.flatMap((a) => [a.vethHost, vethPeerTempName(a.vethHost, this.prefix)]));
    const rest = (name: string) => name.slice(this.prefix.length);
    for (const l of await links.listLinks()) {
      if (!ownedBy(this.prefix, l) || !/^[vp][0-9a-f]+$/.test(rest(l)) || veths.has(l)) continue;
      if (await links.deleteLink(l)) removed.push(`link ${l}`);
    }
    for (const ns of await links.listNetns()) {
      if (!ownedBy(this.prefix, ns) || !/^-[0-9a-f]{12}$/.test(rest(ns)) || netns.has(ns)) continue;
      if (await links.deleteNetns(ns)) removed.push(`netns ${ns}`);
    }
    removed.push(...(await ipt.deleteDnatExcept(chainName(this.prefix, 'DNAT'), new Set(held.map((a) => a.ip)))));
    await this.released();
    const members = Object.entries(this.state.attachments).map(([id, a]) => memberOf(id, a));
    removed.push(...(await reconcile(this.prefix, members)));
    if (removed.length) this.log.warn({ removed }, 'removed stale network state');
    return removed;
  }

  /** Port rules to `ip`, the veth (both names it may carry) and the netns; each step idempotent. */
  private async removeKernel(netns: string, vethHost: string, ip: string | null): Promise<void> {
    if (ip !== null) await ipt.deleteDnatTo(chainName(this.prefix, 'DNAT'), ip);
    // Deleting the netns destroys its eth0 and with it the host end of the pair.
    await links.deleteNetns(netns);
    await links.deleteLink(vethHost);
    await links.deleteLink(vethPeerTempName(vethHost, this.prefix));
  }
}

function memberOf(containerId: string, a: Attachment): Member {
  return { containerId, ip: a.ip, mac: a.mac, vethHost: a.vethHost, ...(a.group ? { group: a.group } : {}) };
}

