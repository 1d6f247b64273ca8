// Hijacked connections (attach, exec start): the raw 101 answer, raw error answers on the
// socket, and reading a request body that Node leaves in `head` (research trap 8).
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export function wantsUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'tcp' || /\bupgrade\b/i.test(req.headers.connection ?? '');
}

/** Sockets that already got their 101: errors after that can only close them. */
export const upgradedSockets = new WeakSet<Duplex>();

/** Answers 101 on the raw socket (the CLI refuses anything else: "unable to upgrade to tcp"). */
export function writeUpgrade(socket: Duplex, contentType: string, common: Record<string, string>): void {
  upgradedSockets.add(socket);
  const lines = ['HTTP/1.1 101 UPGRADED', `Content-Type: ${contentType}`, 'Connection: Upgrade', 'Upgrade: tcp'];
  for (const [k, v] of Object.entries(common)) lines.push(`${k}: ${v}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
}

/** A complete HTTP response written by hand on an upgrade socket, which is then closed. */
export function writeRawResponse(socket: Duplex, status: number, body: string, contentType: string, common: Record<string, string>): void {
  if (socket.destroyed) return;
  const payload = Buffer.from(body);
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`,
    `Content-Type: ${contentType}`,
    `Content-Length: ${payload.length}`,
    'Connection: close',
  ];
  for (const [k, v] of Object.entries(common)) lines.push(`${k}: ${v}`);
  socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), payload]));
}

/**
 * Reads `Content-Length` bytes of request body from `head` and then the socket; whatever
 * follows is returned as `rest` (the first stdin bytes). No Content-Length → empty body.
 */
export function readUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer, limit = 1 << 20): Promise<{ body: Buffer; rest: Buffer }> {
  const len = Number(req.headers['content-length'] ?? 0);
  if (!Number.isFinite(len) || len <= 0) return Promise.resolve({ body: Buffer.alloc(0), rest: head });
  if (len > limit) return Promise.reject(new Error('request body too large'));
  if (head.length >= len) return Promise.resolve({ body: head.subarray(0, len), rest: head.subarray(len) });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [head];
    let have = head.length;
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
    };
    const onData = (d: Buffer) => {
      chunks.push(d);
      have += d.length;
      if (have >= len) {
        cleanup();
        socket.pause();
        const all = Buffer.concat(chunks);
        resolve({ body: all.subarray(0, len), rest: all.subarray(len) });
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('connection closed before the request body was complete'));
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onEnd);
  });
}
