// A tiny DNS server on 127.0.0.1 for tests that look up TXT records (domain verification): it
// answers TXT questions from a map the test fills, NXDOMAIN for any other name. Tests never reach
// real DNS; the controller is pointed at this one (SLIPWAY_DNS_RESOLVER / router.dnsResolver).
import { createSocket } from 'node:dgram';

export interface TestDns {
  /** `127.0.0.1:<port>`, for Resolver.setServers. */
  readonly server: string;
  /** name (lowercase, no trailing dot) → TXT strings. */
  readonly txt: Map<string, string[]>;
  close(): Promise<void>;
}

export async function startTestDns(): Promise<TestDns> {
  const txt = new Map<string, string[]>();
  const sock = createSocket('udp4');
  sock.on('message', (q, rinfo) => {
    if (q.length < 12) return;
    // the question: labels from byte 12, then QTYPE and QCLASS
    const labels: string[] = [];
    let i = 12;
    while (i < q.length && q[i] !== 0) {
      labels.push(q.toString('latin1', i + 1, i + 1 + q[i]!));
      i += 1 + q[i]!;
    }
    const qEnd = i + 5;
    if (qEnd > q.length) return;
    const qtype = q.readUInt16BE(i + 1);
    const records = qtype === 16 ? (txt.get(labels.join('.').toLowerCase()) ?? []) : [];
    const answers = records.map((value) => {
      const data = Buffer.from(value, 'latin1');
      const a = Buffer.alloc(12 + 1 + data.length);
      a.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      a.writeUInt16BE(16, 2); // TXT
      a.writeUInt16BE(1, 4); // IN
      a.writeUInt32BE(0, 6); // TTL
      a.writeUInt16BE(1 + data.length, 10);
      a[12] = data.length;
      data.copy(a, 13);
      return a;
    });
    const head = Buffer.alloc(12);
    q.copy(head, 0, 0, 2); // the id
    head.writeUInt16BE(answers.length ? 0x8180 : 0x8183, 2); // a response; NXDOMAIN when nothing
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(answers.length, 6);
    sock.send(Buffer.concat([head, q.subarray(12, qEnd), ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return {
    server: `127.0.0.1:${sock.address().port}`,
    txt,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}
