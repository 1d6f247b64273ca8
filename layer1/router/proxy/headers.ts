// The heads the proxy writes: the request as the backend gets it (hop-by-hop fields stripped,
// X-Forwarded-*, X-Request-Id, X-Request-Start and Via added) and the response as the client gets
// it. Both are the peer's own bytes minus the lines the parser marked as dropped (parse.ts; RFC
// 9110 §7.6.1 for what is hop-by-hop) plus what the proxy writes itself, in one buffer.
import type { RequestHead, ResponseHead } from './parse.ts';

export interface ForwardInfo {
  clientIp: string;
  proto: 'http' | 'https';
  port: number;
  requestId: string;
  /** The request's target, possibly rewritten from absolute-form to origin-form. */
  target: string;
  /** The absolute-form authority that replaces the client's Host (whose line the caller dropped); null: no rewrite. */
  host?: string | null;
  upgrade: boolean;
  /** Date.now() when the request arrived (X-Request-Start). */
  now: number;
}

/**
 * The request head as the backend gets it: the request line (origin-form target, the client's
 * HTTP version), the client's field lines as bytes minus the dropped ones, then the framing and
 * forwarding fields the proxy writes itself. `src` holds the head from its first byte; it is read
 * now and not kept.
 */
export function forwardRequestHead(src: Buffer, h: RequestHead, f: ForwardInfo): Buffer {
  // the client's own request line when the target stays (the parser let through only its exact
  // shape: one space each side of the target); absolute-form is rewritten to origin-form
  const line = f.target === h.target ? '' : `${h.method} ${f.target} HTTP/1.${h.minor}\r\n`;
  const lineBytes = line === '' ? h.fieldsStart : line.length;
  const rewrite = f.host ?? null;
  let extra = rewrite === null ? '' : `Host: ${rewrite}\r\n`;
  if (h.chunked) extra += `Transfer-Encoding: ${h.transferEncoding}\r\n`;
  else if (h.contentLength >= 0) extra += `Content-Length: ${h.contentLength}\r\n`;
  const host = rewrite ?? h.host;
  extra +=
    `X-Forwarded-For: ${h.forwardedFor === null ? f.clientIp : `${h.forwardedFor}, ${f.clientIp}`}\r\n` +
    `X-Forwarded-Proto: ${f.proto}\r\nX-Forwarded-Port: ${f.port}\r\n` +
    (host === null ? '' : `X-Forwarded-Host: ${host}\r\n`) +
    `X-Request-Id: ${f.requestId}\r\nX-Request-Start: t=${f.now}\r\n` +
    `Via: ${h.via === null ? '1.1 slipway' : `${h.via}, 1.1 slipway`}\r\n`;
  if (f.upgrade) extra += `Connection: upgrade\r\nUpgrade: ${h.upgrade}\r\n`;
  else if (h.minor === 0) extra += 'Connection: keep-alive\r\n';
  extra += '\r\n';
  const end = h.size - 2; // the fields end where the final empty line starts
  const drops = h.drops;
  let kept = end - h.fieldsStart;
  for (let i = 0; i < drops.length; i += 2) kept -= drops[i + 1] - drops[i];
  // one allocation; strings go in as latin1 (a rewritten target can hold obs-text)
  const out = Buffer.allocUnsafe(lineBytes + kept + extra.length);
  // with the client's request line, its bytes and the first kept fields are one range
  let o = line === '' ? 0 : out.write(line, 0, 'latin1');
  let from = line === '' ? 0 : h.fieldsStart;
  for (let i = 0; i < drops.length; i += 2) {
    o += src.copy(out, o, from, drops[i]);
    from = drops[i + 1];
  }
  o += src.copy(out, o, from, end);
  out.write(extra, o, 'latin1');
  return out;
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
