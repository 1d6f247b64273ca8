// layer0/network on the real kernel: two netns "containers" on the bridge, isolation from the
// host, published ports (localhost, host address, hairpin, udp), conflicts, detach, teardown.
// Traffic only goes to 127.0.0.1, the host's own address and addresses inside our bridge.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isSlipwayError } from '../../layer0/common/errors.ts';
import { cleanupByPrefix, createHostNetwork, type Attachment, type HostNetwork } from '../../layer0/network/index.ts';
import { findLeaks } from '../helpers/leaks.ts';

const execFileP = promisify(execFile);
const HOST_IP = '192.0.2.2';
const idA = randomBytes(32).toString('hex');
const idB = randomBytes(32).toString('hex');

async function nsExec(ns: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const p = execFileP('ip', ['netns', 'exec', ns, ...args], { timeout: 10_000 });
    p.child.stdin?.end();
    return { ok: true, out: (await p).stdout };
  } catch (err) {
    return { ok: false, out: String((err as { stderr?: string }).stderr ?? err) };
  }
}

function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: '/', timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitFor(fn: () => Promise<unknown>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function iptablesLinesWith(prefix: string): Promise<string[]> {
  const out = [(await execFileP('iptables-save', ['-t', 'filter'])).stdout, (await execFileP('iptables-save', ['-t', 'nat'])).stdout, (await execFileP('ebtables-save', ['-t', 'nat'])).stdout];
  return out.join('\n').split('\n').filter((l) => l.includes(prefix) || l.includes(prefix.toUpperCase()));
}

describe('host network', () => {
  const prefix = `slwt${randomBytes(2).toString('hex')}`;
  const children: ChildProcess[] = [];
  const servers: Server[] = [];
  let stateDir = '';
  let webDir = '';
  let net: HostNetwork;
  let a: Attachment;
  let b: Attachment;

  function spawnIn(ns: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return child;
  }

  function killChildren(ns?: string): void {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null && (ns === undefined || c.spawnargs.includes(ns))) c.kill('SIGKILL');
    }
  }

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'slwt-net-state-'));
    webDir = await mkdtemp(join(tmpdir(), 'slwt-net-web-'));
    await writeFile(join(webDir, 'index.html'), 'hello from a\n');
    net = createHostNetwork({ prefix, stateDir });
    await net.setup();
    // One isolation group: they reach each other (test/security/network-isolation.test.ts: other groups do not).
    a = await net.attach({ containerId: idA, group: 'g1', ports: [{ containerPort: 8080, protocol: 'tcp', hostIp: '', hostPort: 0 }] });
    b = await net.attach({
      containerId: idB,
      group: 'g1',
      ports: [
        { containerPort: 8080, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 },
        { containerPort: 5353, protocol: 'udp', hostIp: '', hostPort: 0 },
      ],
    });
    spawnIn(a.netnsName, ['busybox', 'httpd', '-f', '-p', '8080', '-h', webDir]);
    spawnIn(b.netnsName, ['busybox', 'httpd', '-f', '-p', '8080', '-h', webDir]);
    const udpEcho = "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('pong:'+m,r.port,r.address));s.bind(5353)";
    spawnIn(b.netnsName, [process.execPath, '-e', udpEcho]);
    // Host to container IP: the replies come back through the INPUT chain as ESTABLISHED.
    await waitFor(() => httpGet(a.ip, 8080));
    await waitFor(() => httpGet(b.ip, 8080));
  });

  after(async () => {
    killChildren();
    for (const s of servers) s.close();
    const removed = await cleanupByPrefix(prefix);
    await rm(stateDir, { recursive: true, force: true });
    await rm(webDir, { recursive: true, force: true });
    assert.deepEqual(await findLeaks(prefix), [], `left behind (clean-up removed ${removed.join(', ')})`);
  });

  it('creates the bridge with a free /24 and persists the choice', async () => {
    assert.match(net.subnet, /^172\.31\.\d{1,3}\.0\/24$/);
    assert.equal(net.gateway, net.subnet.replace(/0\/24$/, '1'));
    assert.equal(net.bridge, `${prefix}br0`);
    const addr = (await execFileP('ip', ['-4', '-o', 'addr', 'show', 'dev', net.bridge])).stdout;
    assert.match(addr, new RegExp(`inet ${net.gateway.replaceAll('.', '\\.')}/24`));
    const saved = JSON.parse(await readFile(join(stateDir, 'network.json'), 'utf8')) as { subnet: string };
    assert.equal(saved.subnet, net.subnet);
    assert.equal((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim(), '1');
    // route_localnet on the bridge (127.0.0.1 DNAT); setup turns `all` off, but it is machine-wide
    // and older instances may set it again, so only the bridge is asserted.
    assert.equal((await readFile(`/proc/sys/net/ipv4/conf/${net.bridge}/route_localnet`, 'utf8')).trim(), '1');
  });

  it('gives each container a netns with eth0, its address, MAC and default route', async () => {
    assert.notEqual(a.ip, b.ip);
    for (const att of [a, b]) {
      assert.ok(existsSync(att.netnsPath));
      assert.equal(att.netnsPath, `/run/netns/${att.netnsName}`);
      assert.ok(att.vethHost.length <= 15 && att.vethHost.startsWith(`${prefix}v`));
      assert.equal(att.gateway, net.gateway);
      assert.equal(att.prefixLength, 24);
      const link = (await nsExec(att.netnsName, ['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).out;
      assert.ok(link.includes(`inet ${att.ip}/24`), link);
      const mac = (await nsExec(att.netnsName, ['cat', '/sys/class/net/eth0/address'])).out.trim();
      assert.equal(mac, att.mac);
      assert.match(mac, /^02:42:ac:1f:/);
      const route = (await nsExec(att.netnsName, ['ip', 'route', 'show', 'default'])).out;
      assert.ok(route.includes(`via ${net.gateway}`), route);
      const lo = (await nsExec(att.netnsName, ['ip', '-o', 'link', 'show', 'lo'])).out;
      assert.match(lo, /UP/);
      const master = (await execFileP('ip', ['-o', 'link', 'show', 'dev', att.vethHost])).stdout;
      assert.ok(master.includes(`master ${net.bridge}`), master);
    }
  });

  it('lets containers reach each other by IP', async () => {
    const r = await nsExec(b.netnsName, ['busybox', 'wget', '-q', '-O', '-', `http://${a.ip}:8080/`]);
    assert.equal(r.out, 'hello from a\n');
  });

  it('keeps containers away from every host port', async () => {
    let connections = 0;
    const server = createServer((s) => {
      connections++;
      s.destroy();
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    const port = (server.address() as AddressInfo).port;
    // Control: the same nc connects to another container's port.
    assert.ok((await nsExec(a.netnsName, ['busybox', 'nc', '-w', '2', b.ip, '8080'])).ok);
    for (const target of [net.gateway, HOST_IP]) {
      const r = await nsExec(a.netnsName, ['busybox', 'nc', '-w', '2', target, String(port)]);
      assert.equal(r.ok, false, `container reached ${target}:${port}`);
    }
    assert.equal(connections, 0);
    await httpGet('127.0.0.1', port).catch(() => undefined);
    assert.equal(connections, 1, 'the server itself answers the host');
  });

  it('resolves hostPort 0 to a free ephemeral port', () => {
    for (const p of [...a.ports, ...b.ports]) {
      assert.ok(p.hostPort >= 32768 && p.hostPort <= 60999, String(p.hostPort));
    }
    const keys = [...a.ports, ...b.ports].map((p) => `${p.protocol}/${p.hostPort}`);
    assert.equal(new Set(keys).size, keys.length);
  });

  it('publishes ports on 127.0.0.1 and the host address', async () => {
    const port = a.ports[0]!.hostPort;
    assert.equal(await httpGet('127.0.0.1', port), 'hello from a\n');
    assert.equal(await httpGet(HOST_IP, port), 'hello from a\n');
  });

  it('publishes on one host address only when hostIp is set', async () => {
    const port = b.ports[0]!.hostPort;
    assert.equal(b.ports[0]!.hostIp, '127.0.0.1');
    assert.equal(await httpGet('127.0.0.1', port), 'hello from a\n');
    await assert.rejects(httpGet(HOST_IP, port));
  });

  it('publishes udp ports', async () => {
    const sock = createSocket('udp4');
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const timer = setInterval(() => sock.send('ping', b.ports[1]!.hostPort, '127.0.0.1'), 200);
        sock.on('message', (m) => {
          clearInterval(timer);
          resolve(m.toString());
        });
        setTimeout(() => {
          clearInterval(timer);
          reject(new Error('no udp reply'));
        }, 5000);
        sock.send('ping', b.ports[1]!.hostPort, '127.0.0.1');
      });
      assert.equal(reply, 'pong:ping');
    } finally {
      sock.close();
    }
  });

  it('hairpins container -> host address:published port -> other container or itself', async () => {
    // busybox wget -T segfaults in Debian's 1.35 static build: nsExec's timeout bounds it instead.
    for (const from of [b, a]) {
      for (const host of [HOST_IP, net.gateway]) {
        const url = `http://${host}:${a.ports[0]!.hostPort}/`;
        assert.equal((await nsExec(from.netnsName, ['busybox', 'wget', '-q', '-O', '-', url])).out, 'hello from a\n', `${from.ip} -> ${url}`);
      }
    }
  });

  it('refuses a host port that is already published, leaving nothing behind', async () => {
    const idC = randomBytes(32).toString('hex');
    const port = a.ports[0]!.hostPort;
    await assert.rejects(
      net.attach({ containerId: idC, ports: [{ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: port }] }),
      (err: unknown) => isSlipwayError(err) && err.code === 'conflict'
        && err.message === `Bind for 0.0.0.0:${port} failed: port is already allocated`,
    );
    assert.ok(!existsSync(`/run/netns/${prefix}-${idC.slice(0, 12)}`));
    const saved = JSON.parse(await readFile(join(stateDir, 'network.json'), 'utf8')) as { attachments: object };
    assert.deepEqual(Object.keys(saved.attachments).sort(), [idA, idB].sort());
  });

  it('is idempotent per container and across a restart of the agent', async () => {
    const rulesBefore = await iptablesLinesWith(prefix);
    assert.deepEqual(await net.attach({ containerId: idA, ports: [] }), a);
    const again = createHostNetwork({ prefix, stateDir });
    assert.equal(again.subnet, net.subnet);
    await again.setup();
    assert.deepEqual(await again.attach({ containerId: idB, ports: [] }), b);
    assert.deepEqual((await iptablesLinesWith(prefix)).sort(), rulesBefore.sort());
  });

  it('detaches a container completely, twice', async () => {
    killChildren(a.netnsName);
    await net.detach(idA);
    await net.detach(idA);
    await net.detach(randomBytes(32).toString('hex'));
    assert.ok(!existsSync(a.netnsPath));
    const links = (await execFileP('ip', ['-o', 'link', 'show'])).stdout;
    assert.ok(!links.includes(a.vethHost));
    assert.ok(!(await iptablesLinesWith(prefix)).some((l) => l.includes(`${a.ip}:`)));
    await assert.rejects(httpGet('127.0.0.1', a.ports[0]!.hostPort));
    // The address and port are free again.
    const c = await net.attach({ containerId: idA, ports: [{ containerPort: 1, protocol: 'tcp', hostIp: '', hostPort: a.ports[0]!.hostPort }] });
    assert.equal(c.ip, a.ip);
    await net.detach(idA);
  });

  it('refuses a configured subnet that overlaps an existing route', async () => {
    const other = createHostNetwork({ prefix: `${prefix}x`, stateDir: join(stateDir, 'other'), subnet: net.subnet });
    await assert.rejects(other.setup(), (err: unknown) => isSlipwayError(err) && err.code === 'conflict');
    assert.deepEqual(await findLeaks(`${prefix}x`), []);
  });

  it('tears everything down, twice, keeping the subnet choice', async () => {
    killChildren();
    await net.teardown();
    await net.teardown();
    assert.deepEqual(await findLeaks(prefix), []);
    const saved = JSON.parse(await readFile(join(stateDir, 'network.json'), 'utf8')) as { subnet: string; attachments: object };
    assert.equal(saved.subnet, net.subnet);
    assert.deepEqual(saved.attachments, {});
  });
});

describe('cleanupByPrefix', () => {
  const prefix = `slwt${randomBytes(2).toString('hex')}`;
  let stateDir = '';

  after(async () => {
    await cleanupByPrefix(prefix);
    await rm(stateDir, { recursive: true, force: true });
    assert.deepEqual(await findLeaks(prefix), []);
  });

  it('removes what an instance left when its agent died', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'slwt-net-state-'));
    const net = createHostNetwork({ prefix, stateDir });
    const att = await net.attach({ containerId: randomBytes(32).toString('hex'), ports: [{ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 0 }] });
    assert.ok((await findLeaks(prefix)).length > 0);
    const removed = await cleanupByPrefix(prefix);
    assert.ok(removed.includes(`netns ${att.netnsName}`), removed.join('\n'));
    assert.ok(removed.includes(`link ${att.vethHost}`));
    assert.ok(removed.includes(`link ${prefix}br0`));
    assert.ok(removed.some((l) => l.includes(`chain ${prefix.toUpperCase()}-DNAT`)));
    assert.deepEqual(await findLeaks(prefix), []);
    assert.deepEqual(await cleanupByPrefix(prefix), []);
  });
});
