// Tenant isolation on the network (issue 13: H2, M7, M8, L7), with a real agent and real
// containers: app A's containers reach each other but never app B's (by address or through a
// published port); the host reaches both; no container reaches the control plane's ports, a
// cluster peer, or a 127.0.0.1-bound port through route_localnet; forged IPv4 sources, ARP
// replies and IPv6 frames from A's veth never reach B; IPv6 is off in the container's netns;
// ports are published only where the router reaches them; outbound NAT still works.
// The forging runs as root inside A's network namespace (NET_RAW and more: the strongest
// container the runtime could ever start), with raw AF_PACKET sockets in python3.
// Traffic: loopback, our bridge, and a netns "outside" (198.51.100.0/24) this test makes.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { startAgent, type RunningAgent } from '../../layer0/agent/daemon.ts';
import { connectAgent, ISOLATION_LABEL, type AgentClient } from '../../layer0/agent/index.ts';
import { silentLogger } from '../../layer0/common/logger.ts';
import type { SlipwayPaths } from '../../layer0/common/paths.ts';
import { createDiscovery } from '../../layer0/discovery/client.ts';
import { HOSTS_SERVICE, type Discovery } from '../../layer0/discovery/types.ts';
import { cleanupByPrefix } from '../../layer0/network/index.ts';
import { bridgeName, netnsName, vethHostName } from '../../layer0/network/names.ts';
import { macFromIp } from '../../layer0/network/subnet.ts';
import { removeCgroupParent } from '../../layer0/runtime/index.ts';
import { busyboxRootfsTar } from '../helpers/fixtures.ts';
import { findLeaks } from '../helpers/leaks.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';
import { testPrefix } from '../helpers/runtime.ts';

const execFileP = promisify(execFile);
const OUTSIDE = { host: '198.51.100.1', internet: '198.51.100.2', peer: '198.51.100.3' };

interface Box {
  id: string;
  ip: string;
  mac: string;
  netns: string;
  /** The published port of 8080 on the default address (127.0.0.1; every address before M7). */
  port: number;
  /** Published port per host address. */
  ports: Record<string, number>;
}

/** Raw frames in a netns: `send IF HEX` writes one; `sniff IF SECONDS` prints each frame seen as hex (after `ready`). */
const RAW_PY = `
import socket, sys, time, binascii
mode, ifname = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
if mode == 'send':
    s.send(binascii.unhexlify(sys.argv[3]))
else:
    end = time.time() + float(sys.argv[3])
    print('ready', flush=True)
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            print(binascii.hexlify(s.recv(65535)).decode(), flush=True)
        except socket.timeout:
            pass
`;

const mac = (m: string) => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));
const ip4 = (a: string) => Buffer.from(a.split('.').map(Number));

function checksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) + (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Ethernet + IPv4 (valid header checksum: br_netfilter drops bad ones) + a TCP SYN. */
function synFrame(o: { dstMac: string; srcMac: string; src: string; dst: string; dport: number }): Buffer {
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(o.dport, 2);
  tcp.writeUInt32BE(1, 4);
  tcp[12] = 5 << 4;
  tcp[13] = 0x02; // SYN
  tcp.writeUInt16BE(64240, 14);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(40, 2);
  ip[8] = 64;
  ip[9] = 6;
  ip4(o.src).copy(ip, 12);
  ip4(o.dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  // A valid TCP checksum too: conntrack marks a bad one INVALID, and NAT never sees it.
  const pseudo = Buffer.concat([ip4(o.src), ip4(o.dst), Buffer.from([0, 6, 0, tcp.length])]);
  tcp.writeUInt16BE(checksum(Buffer.concat([pseudo, tcp])), 16);
  return Buffer.concat([mac(o.dstMac), mac(o.srcMac), Buffer.from([0x08, 0x00]), ip, tcp]);
}

/** An ARP reply telling `target` that `claimIp` is at `claimMac`. */
function arpReply(o: { dstMac: string; srcMac: string; claimIp: string; claimMac: string; targetIp: string }): Buffer {
  const arp = Buffer.concat([
    Buffer.from([0, 1, 8, 0, 6, 4, 0, 2]), mac(o.claimMac), ip4(o.claimIp), mac(o.dstMac), ip4(o.targetIp),
  ]);
  return Buffer.concat([mac(o.dstMac), mac(o.srcMac), Buffer.from([0x08, 0x06]), arp]);
}

/** An IPv6 router advertisement to all nodes (what a hostile tenant would send to redirect others). */
function routerAdvert(srcMac: string): Buffer {
  const icmp = Buffer.from([134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]);
  const ip6 = Buffer.alloc(40);
  ip6[0] = 0x60;
  ip6.writeUInt16BE(icmp.length, 4);
  ip6[6] = 58;
  ip6[7] = 255;
  Buffer.from('fe800000000000000000000000000001', 'hex').copy(ip6, 8);
  Buffer.from('ff020000000000000000000000000001', 'hex').copy(ip6, 24);
  return Buffer.concat([mac('33:33:00:00:00:01'), mac(srcMac), Buffer.from([0x86, 0xdd]), ip6, icmp]);
}

describe('network isolation between tenants', { timeout: 180_000 }, () => {
  const prefix = testPrefix('i');
  const dir = mkdtempSync(join(tmpdir(), 'slwt-netiso-'));
  const rawPy = join(dir, 'raw.py');
  const outsideNs = `${prefix}-outside`;
  const vethOut = `${prefix}_o0`;
  const vethIn = `${prefix}_o1`;
  const servers: Server[] = [];
  const children: ReturnType<typeof spawn>[] = [];
  let redis: TestRedis;
  let discovery: Discovery;
  let agent: RunningAgent;
  let docker: Docker;
  let client: AgentClient;
  let paths: SlipwayPaths;
  let gatewayMac = '';
  let gateway = '';
  let hostIp = '';
  const box: Record<'a1' | 'a2' | 'b1' | 'b2', Box> = {} as never;

  async function nsRun(ns: string, args: string[], timeout = 10_000): Promise<{ ok: boolean; out: string }> {
    try {
      const p = execFileP('ip', ['netns', 'exec', ns, ...args], { timeout });
      p.child.stdin?.end();
      return { ok: true, out: (await p).stdout };
    } catch (err) {
      return { ok: false, out: String((err as { stderr?: string }).stderr ?? err) };
    }
  }

  /** Frames `to` sees on its eth0 from before `send` runs until a second after it returned. */
  async function framesSeen(to: Box, send: () => Promise<unknown>): Promise<Buffer[]> {
    const child = spawn('ip', ['netns', 'exec', to.netns, 'python3', rawPy, 'sniff', 'eth0', '30'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const exited = new Promise((r) => child.once('exit', r));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    for (let i = 0; i < 200 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(out.includes('ready'), 'the sniffer started');
    await send();
    await new Promise((r) => setTimeout(r, 1000));
    child.kill('SIGKILL');
    await exited;
    return out.split('\n').filter((l) => /^[0-9a-f]+$/.test(l)).map((l) => Buffer.from(l, 'hex'));
  }

  const sendFrom = (from: Box, frame: Buffer) => nsRun(from.netns, ['python3', rawPy, 'send', 'eth0', frame.toString('hex')]);

  /** A busybox command inside a container (as the app's own code would run it). */
  async function inBox(b: Box, cmd: string[]): Promise<{ exitCode: number; stdout: string }> {
    return client.exec(b.id, cmd);
  }

  // busybox nc has no -z: connect, read EOF from stdin, leave (exit 0 only when it connected).
  const tcpFrom = async (b: Box, host: string, port: number) => (await inBox(b, ['sh', '-c', `nc -w 2 ${host} ${port} </dev/null`])).exitCode === 0;

  /** A TCP connect from the host (busybox wget -T crashes in Debian's static build). */
  function hostConnects(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const sock = connect({ host, port, timeout: 3000 });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('timeout', () => {
        sock.destroy();
        resolve(false);
      });
      sock.once('error', () => resolve(false));
    });
  }

  async function listen(): Promise<number> {
    const s = createServer((c) => c.destroy());
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '0.0.0.0', r));
    return (s.address() as AddressInfo).port;
  }

  async function run(name: string, group: string, publishOn: string[]): Promise<Box> {
    const c = await docker.createContainer({
      name, Image: 'bb:1', Labels: { [ISOLATION_LABEL]: group },
      Cmd: ['sh', '-c', `mkdir -p /w && echo ${name} > /w/index.html && exec httpd -f -p 8080 -h /w`],
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: { NetworkMode: 'bridge', PortBindings: { '8080/tcp': publishOn.map((h) => ({ HostIp: h, HostPort: '' })) } },
    });
    await c.start();
    const info = await c.inspect();
    const ip = (info.NetworkSettings as unknown as { IPAddress: string }).IPAddress;
    const ports = Object.fromEntries((info.NetworkSettings.Ports['8080/tcp'] ?? []).map((p) => [p.HostIp, Number(p.HostPort)]));
    return { id: c.id, ip, mac: macFromIp(ip), netns: netnsName(prefix, c.id), port: ports['127.0.0.1'] ?? ports['0.0.0.0'] ?? 0, ports };
  }

  before(async () => {
    writeFileSync(rawPy, RAW_PY);
    hostIp = Object.entries(networkInterfaces()).filter(([n]) => !n.startsWith('slw') && n !== 'lo')
      .flatMap(([, a]) => a ?? []).find((a) => a.family === 'IPv4' && !a.internal)?.address ?? '';
    // "The internet" and a cluster peer: a netns beyond a veth, with no route back to containers (only NAT works).
    await execFileP('ip', ['netns', 'add', outsideNs]);
    await execFileP('ip', ['link', 'add', vethOut, 'type', 'veth', 'peer', 'name', vethIn, 'netns', outsideNs]);
    await execFileP('ip', ['addr', 'add', `${OUTSIDE.host}/24`, 'dev', vethOut]);
    await execFileP('ip', ['link', 'set', vethOut, 'up']);
    for (const cmd of [
      ['addr', 'add', `${OUTSIDE.internet}/24`, 'dev', vethIn], ['addr', 'add', `${OUTSIDE.peer}/24`, 'dev', vethIn],
      ['link', 'set', vethIn, 'up'], ['link', 'set', 'lo', 'up'],
    ]) await execFileP('ip', ['-n', outsideNs, ...cmd]);
    const www = join(dir, 'www');
    await execFileP('mkdir', ['-p', www]);
    writeFileSync(join(www, 'index.html'), 'outside\n');
    for (const addr of [OUTSIDE.internet, OUTSIDE.peer]) {
      const c = spawn('ip', ['netns', 'exec', outsideNs, 'busybox', 'httpd', '-f', '-p', `${addr}:80`, '-h', www], { stdio: 'ignore' });
      children.push(c);
    }

    // A one-host cluster whose discovery also lists a peer host at OUTSIDE.peer.
    redis = await startTestRedis();
    discovery = createDiscovery({ url: redis.url, keyPrefix: redis.prefix('netiso'), log: silentLogger, sweepMs: 0 });
    await discovery.register(HOSTS_SERVICE, { id: 'peer-host', addr: `http://${OUTSIDE.peer}:2375`, meta: { address: OUTSIDE.peer } }, { ttlMs: 120_000, heartbeatMs: 5000 });
    paths = { home: join(dir, 'home'), run: join(dir, 'run'), cache: process.env.SLIPWAY_CACHE ?? '/var/cache/slipway', prefix };
    agent = await startAgent({
      paths, log: silentLogger, cluster: { discovery, address: '127.0.0.1', agentUrl: `unix://${join(paths.run, 'agent.sock')}` },
    });
    docker = new Docker({ socketPath: agent.socketPath });
    client = connectAgent({ socketPath: agent.socketPath });
    await client.importImage(createReadStream(await busyboxRootfsTar(dir)), { repo: 'bb', tag: '1' });
    gatewayMac = (await readFile(`/sys/class/net/${bridgeName(prefix)}/address`, 'utf8')).trim();
    box.a1 = await run('a1', 'app-a', ['']);
    box.a2 = await run('a2', 'app-a', ['']);
    // B publishes on the default address and explicitly on the host's own address (a hairpin path).
    box.b1 = await run('b1', 'app-b', ['', ...(hostIp ? [hostIp] : [])]);
    box.b2 = await run('b2', 'app-b', ['']);
    gateway = box.a1.ip.replace(/\.\d+$/, '.1');
    for (const b of Object.values(box)) {
      for (let i = 0; i < 50 && !(await tcpFrom(b, '127.0.0.1', 8080)); i++) await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of servers) s.close();
    if (docker) for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true });
    await agent?.close();
    await discovery?.close();
    await redis?.cleanup();
    await cleanupByPrefix(prefix);
    removeCgroupParent(prefix);
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(await findLeaks(prefix, { runcRoots: [join(paths.run, 'runc')] }), []);
  });

  it('lets processes of one app reach each other', async () => {
    assert.ok(await tcpFrom(box.a2, box.a1.ip, 8080), 'a2 -> a1');
    assert.ok(await tcpFrom(box.a1, box.a2.ip, 8080), 'a1 -> a2');
    assert.ok(await tcpFrom(box.b2, box.b1.ip, 8080), 'b2 -> b1');
  });

  it('keeps one app from reaching another\'s containers on any port', async () => {
    assert.equal(await tcpFrom(box.a1, box.b1.ip, 8080), false, 'a1 -> b1:8080');
    assert.equal(await tcpFrom(box.b1, box.a1.ip, 8080), false, 'b1 -> a1:8080');
    // Not even ICMP: nothing of B answers A.
    assert.notEqual((await inBox(box.a1, ['ping', '-c', '1', '-W', '1', box.b2.ip])).exitCode, 0, 'a1 pings b2');
  });

  it('keeps one app from reaching another through a published port on the host', async () => {
    if (!hostIp) return;
    const port = box.b1.ports[hostIp]!;
    assert.ok(port > 0);
    assert.ok(await tcpFrom(box.b2, hostIp, port), 'b2 -> host:port -> b1 (hairpin within the app)');
    assert.equal(await tcpFrom(box.a1, hostIp, port), false, 'a1 -> host:port -> b1');
  });

  it('lets the host reach every container (health checks) and published ports on 127.0.0.1 (router)', async () => {
    for (const b of Object.values(box)) {
      const direct = await execFileP('busybox', ['wget', '-q', '-O', '-', `http://${b.ip}:8080/`], { timeout: 10_000 });
      assert.match(direct.stdout, /^[ab][12]$/m);
      const published = await execFileP('busybox', ['wget', '-q', '-O', '-', `http://127.0.0.1:${b.port}/`], { timeout: 10_000 });
      assert.equal(published.stdout, direct.stdout);
    }
  });

  it('publishes ports only on the router\'s address, not on every host address', async () => {
    if (!hostIp) return;
    // Control: the same check reaches the port on 127.0.0.1.
    assert.equal(await hostConnects('127.0.0.1', box.a1.port), true);
    assert.equal(await hostConnects(hostIp, box.a1.port), false, `a1's port answers on ${hostIp}`);
  });

  it('keeps containers off the host\'s control-plane ports', async () => {
    const ports = { agent: await listen(), redis: await listen(), blobstore: await listen() };
    for (const [what, port] of Object.entries(ports)) {
      for (const target of [gateway, ...(hostIp ? [hostIp] : [])]) {
        assert.equal(await tcpFrom(box.a1, target, port), false, `${what} at ${target}:${port}`);
      }
    }
  });

  it('keeps containers off another host of the cluster, while the internet is reached through NAT', async () => {
    const internet = await inBox(box.a1, ['wget', '-q', '-O', '-', `http://${OUTSIDE.internet}/`]);
    assert.equal(internet.stdout, 'outside\n', 'outbound NAT');
    assert.equal(await tcpFrom(box.a1, OUTSIDE.peer, 80), false, 'a1 -> the peer host');
  });

  it('drops 127.0.0.1 arriving from a container (no route_localnet reach into published ports)', async () => {
    // A SYN to 127.0.0.1:<b1's published port>, sent to the bridge's MAC: route_localnet would DNAT it to b1.
    const frames = await framesSeen(box.b1, () => sendFrom(box.a1, synFrame({ dstMac: gatewayMac, srcMac: box.a1.mac, src: box.a1.ip, dst: '127.0.0.1', dport: box.b1.port })));
    assert.equal(frames.filter((f) => f.readUInt16BE(12) === 0x0800 && f[23] === 6 && f.readUInt16BE(36) === 8080).length, 0);
    // route_localnet is on for the bridge only (`all` is machine-wide: older instances may still set it).
    assert.equal((await readFile(`/proc/sys/net/ipv4/conf/${bridgeName(prefix)}/route_localnet`, 'utf8')).trim(), '1');
  });

  it('drops forged IPv4 sources from a container\'s veth', async () => {
    const isSynFrom = (src: string) => (f: Buffer) => f.readUInt16BE(12) === 0x0800 && f.subarray(26, 30).equals(ip4(src)) && f.readUInt16BE(36) === 8080;
    // Control: an honest frame within app A arrives.
    const honest = await framesSeen(box.a1, () => sendFrom(box.a2, synFrame({ dstMac: box.a1.mac, srcMac: box.a2.mac, src: box.a2.ip, dst: box.a1.ip, dport: 8080 })));
    assert.ok(honest.some(isSynFrom(box.a2.ip)), 'the sniffer sees honest frames');
    // a1 pretends to be b2 (in b1's group) with its own MAC, then with b2's MAC.
    for (const srcMac of [box.a1.mac, box.b2.mac]) {
      const forged = await framesSeen(box.b1, () => sendFrom(box.a1, synFrame({ dstMac: box.b1.mac, srcMac, src: box.b2.ip, dst: box.b1.ip, dport: 8080 })));
      assert.equal(forged.filter(isSynFrom(box.b2.ip)).length, 0, `forged source with MAC ${srcMac}`);
    }
    // Dropped before the bridge learns: b2's MAC still lives on b2's port, not on a1's.
    const fdb = (await execFileP('bridge', ['fdb', 'show', 'br', bridgeName(prefix)])).stdout;
    assert.ok(!fdb.split('\n').some((l) => l.startsWith(`${box.b2.mac} dev ${vethHostName(prefix, box.a1.id)} `)), fdb);
  });

  it('drops forged ARP replies from a container\'s veth', async () => {
    const claims = (ip: string) => (f: Buffer) => f.readUInt16BE(12) === 0x0806 && f.subarray(28, 32).equals(ip4(ip)) && f.subarray(22, 28).equals(mac(box.a1.mac));
    for (const claimIp of [box.b2.ip, gateway]) {
      const seen = await framesSeen(box.b1, () => sendFrom(box.a1, arpReply({ dstMac: box.b1.mac, srcMac: box.a1.mac, claimIp, claimMac: box.a1.mac, targetIp: box.b1.ip })));
      assert.equal(seen.filter(claims(claimIp)).length, 0, `a1 claims ${claimIp}`);
    }
    // The host's own table keeps b2 at b2's MAC.
    const neigh = (await execFileP('ip', ['neigh', 'show', box.b2.ip, 'dev', bridgeName(prefix)])).stdout;
    assert.ok(!neigh.includes(box.a1.mac), neigh);
  });

  it('has IPv6 off in the container\'s netns and drops IPv6 frames (router advertisements) from its veth', async () => {
    assert.equal((await nsRun(box.a1.netns, ['cat', '/proc/sys/net/ipv6/conf/eth0/disable_ipv6'])).out.trim(), '1');
    assert.equal((await nsRun(box.a1.netns, ['ip', '-6', 'addr', 'show', 'dev', 'eth0'])).out.trim(), '');
    const seen = await framesSeen(box.b1, () => sendFrom(box.a1, routerAdvert(box.a1.mac)));
    // Only a1's frames count: the host's own IPv6 chatter (a new veth's MLD report) is not a1's RA.
    const fromA1 = seen.filter((f) => f.readUInt16BE(12) === 0x86dd && f.subarray(6, 12).equals(mac(box.a1.mac)));
    assert.equal(fromA1.length, 0, `IPv6 frames from a1 reached b1: ${fromA1.map((f) => f.toString('hex', 0, 80)).join(' ')}`);
    const ra = seen.filter((f) => f.readUInt16BE(12) === 0x86dd && f[20] === 58 && f[54] === 134);
    assert.equal(ra.length, 0, `a router advertisement reached b1: ${ra.map((f) => f.toString('hex', 0, 80)).join(' ')}`);
  });
});
