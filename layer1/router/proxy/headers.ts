// The heads the proxy writes: the request as the backend gets it (hop-by-hop fields stripped,
// X-Forwarded-*, X-Request-Id, X-Request-Start and Via added) and the response as the client gets
// it. Built as one latin1 string per head (RFC 9110 §7.6.1 for what is hop-by-hop).
import { hasToken, type RequestHead, type ResponseHead, type Fields } from './parse.ts';

/** Fields that describe one connection, never forwarded as they came. */
function isHopByHop(lower: string): boolean {
  switch (lower) {
    case 'connection':
    case 'keep-alive':
    case 'te':
    case 'trailer':
    case 'transfer-encoding':
    case 'upgrade':
    case 'proxy-connection':
    case 'proxy-authenticate':
    case 'proxy-authorization':
    case 'content-length': // re-added once, normalized
      return true;
  }
  return false;
}

/** Connection's tokens other than the ones every message may carry name more hop-by-hop fields. */
function namedByConnection(list: string | null, lower: string): boolean {
  if (list === null || list === 'keep-alive' || list === 'close') return false;
  return hasToken(list, lower);
}

function appendFields(out: string, h: Fields, skip: (lower: string) => boolean): string {
  const { names, lower, values } = h;
  const conn = h.connection;
  for (let i = 0; i < names.length; i++) {
    const l = lower[i];
    if (isHopByHop(l) || skip(l) || namedByConnection(conn, l)) continue;
    out += `${names[i]}: ${values[i]}\r\n`;
  }
  if (h.chunked) out += `Transfer-Encoding: ${h.transferEncoding}\r\n`;
  else if (h.contentLength >= 0) out += `Content-Length: ${h.contentLength}\r\n`;
  return out;
}

function isForwardingField(lower: string): boolean {
  switch (lower) {
    case 'x-forwarded-for':
    case 'x-forwarded-proto':
    case 'x-forwarded-port':
    case 'x-forwarded-host':
    case 'x-request-id':
    case 'x-request-start':
    case 'via':
      return true;
  }
  return false;
}

export interface ForwardInfo {
  clientIp: string;
  proto: 'http' | 'https';
  port: number;
  requestId: string;
  /** The request's target, possibly rewritten from absolute-form to origin-form. */
  target: string;
  upgrade: boolean;
}

/** The request head as the backend gets it (always HTTP/1.1 framing unless the client spoke 1.0). */
export function forwardRequestHead(h: RequestHead, f: ForwardInfo): string {
  let out = appendFields(`${h.method} ${f.target} HTTP/1.${h.minor}\r\n`, h, isForwardingField);
  out +=
    `X-Forwarded-For: ${h.forwardedFor === null ? f.clientIp : `${h.forwardedFor}, ${f.clientIp}`}\r\n` +
    `X-Forwarded-Proto: ${f.proto}\r\nX-Forwarded-Port: ${f.port}\r\n` +
    (h.host === null ? '' : `X-Forwarded-Host: ${h.host}\r\n`) +
    `X-Request-Id: ${f.requestId}\r\nX-Request-Start: t=${Date.now()}\r\n` +
    `Via: ${h.via === null ? '1.1 slipway' : `${h.via}, 1.1 slipway`}\r\n`;
  if (f.upgrade) out += `Connection: upgrade\r\nUpgrade: ${h.upgrade}\r\n`;
  else if (h.minor === 0) out += 'Connection: keep-alive\r\n';
  return out + '\r\n';
}

/**
 * The response head as the client gets it: the backend's bytes without the dropped lines (so no
 * field is parsed or re-serialized), HTTP/1.1 in the status line, framing and Connection written
 * by the proxy. The buffer has `bodyRoom` bytes left after the head for the caller to fill, so a
 * small response goes out in one write. `src` holds the head from its first byte.
 */
export function responseHead(src: Buffer, h: ResponseHead, close: boolean, keepAlive10: boolean, upgrade: boolean, bodyRoom: number): Buffer {
  let extra = '';
  if (h.chunked) extra += `Transfer-Encoding: ${h.transferEncoding}\r\n`;
  else if (h.contentLength >= 0) extra += `Content-Length: ${h.contentLength}\r\n`;
  if (upgrade) extra += `Connection: upgrade\r\nUpgrade: ${h.upgrade}\r\n`;
  else if (close) extra += 'Connection: close\r\n';
  else if (keepAlive10) extra += 'Connection: keep-alive\r\n';
  extra += '\r\n';
  const end = h.size - 2; // the fields end where the final empty line starts
  const drops = h.drops;
  let kept = end;
  for (let i = 0; i < drops.length; i += 2) kept -= drops[i + 1] - drops[i];
  const out = Buffer.allocUnsafe(kept + extra.length + bodyRoom);
  let o = 0;
  let from = 0;
  for (let i = 0; i < drops.length; i += 2) {
    o += src.copy(out, o, from, drops[i]);
    from = drops[i + 1];
  }
  o += src.copy(out, o, from, end);
  out[7] = 49; // "HTTP/1.1": the client talks to this proxy, whatever the backend spoke
  out.write(extra, o, 'latin1');
  return out;
}
