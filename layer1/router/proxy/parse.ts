// HTTP/1.1 message heads (RFC 9112), parsed from one latin1 string with indexOf and character
// codes: the proxy's hot path, so no regex or slice per line (only for the few fields the proxy
// acts on) and no per-field objects: heads are forwarded as byte ranges (headers.ts). Strict
// on purpose: whatever two HTTP parsers could read differently (obs-fold, bare CR/LF, Content-Length
// with Transfer-Encoding, differing Content-Lengths, a final coding other than chunked) is refused,
// which is what keeps request smuggling out.

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

const DIGITS = /^[0-9]{1,15}$/;

/**
 * What the proxy needs from a request head. Like a response head it is not split into fields:
 * the backend gets the client's field lines as bytes minus the `drops` (see headers.ts).
 */
export class RequestHead {
  method = '';
  target = '';
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor = 1;
  host: string | null = null;
  /** [start, end) of the Host line (-1: none), for the absolute-form rewrite (RFC 9112 §3.2.2). */
  hostStart = -1;
  hostEnd = -1;
  expectContinue = false;
  forwardedFor: string | null = null;
  requestId: string | null = null;
  via: string | null = null;
  /** -1: none. */
  contentLength = -1;
  /** Transfer-Encoding as sent (null: none); `chunked` when its final coding is chunked. */
  transferEncoding: string | null = null;
  chunked = false;
  /** The Connection header's tokens, lowercased and comma-joined (null: none). */
  connection: string | null = null;
  upgrade: string | null = null;
  /** Bytes of the head, CRLFCRLF included. */
  size = 0;
  /** Where the field lines start (past the request line). */
  fieldsStart = 0;
  /**
   * [start, end) byte ranges of the field lines the backend does not get as they came, in order:
   * hop-by-hop fields, framing (written again, normalized) and the forwarding fields the proxy
   * writes itself.
   */
  drops: number[] = [];
}

/**
 * What the proxy needs from a response head. Unlike a request head it is not split into fields:
 * the client gets the backend's own bytes minus the `drops` (hop-by-hop lines), see headers.ts.
 */
export class ResponseHead {
  status = 0;
  minor = 1;
  size = 0;
  contentLength = -1;
  transferEncoding: string | null = null;
  chunked = false;
  connection: string | null = null;
  upgrade: string | null = null;
  /** From `Keep-Alive: timeout=N` (how long the backend keeps an idle connection), ms; -1: not said. */
  keepAliveMs = -1;
  /** [start, end) byte ranges of the lines the client must not get, in order. */
  drops: number[] = [];
}

export class HeadError extends Error {
  constructor(
    readonly status: 400 | 431 | 502,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** True when `token` is one of the comma-separated tokens of a lowercased list. */
export function hasToken(list: string | null, token: string): boolean {
  if (list === null) return false;
  if (list === token) return true;
  let from = 0;
  for (;;) {
    const at = list.indexOf(token, from);
    if (at < 0) return false;
    const end = at + token.length;
    const before = at === 0 ? 44 : list.charCodeAt(at - 1);
    const after = end === list.length ? 44 : list.charCodeAt(end);
    if ((before === 44 || before === 32 || before === 9) && (after === 44 || after === 32 || after === 9)) return true;
    from = end;
  }
}

/** A Content-Length value (a list of equal values is one value); -2 when invalid. */
function contentLengthOf(v: string): number {
  if (DIGITS.test(v)) return Number(v);
  if (v.indexOf(',') < 0) return -2;
  let n = -1;
  for (const part of v.split(',')) {
    const p = part.trim();
    if (!DIGITS.test(p)) return -2;
    if (n >= 0 && Number(p) !== n) return -2;
    n = Number(p);
  }
  return n;
}

/** Transfer-Encoding alone, with chunked as its final coding, once (RFC 9112 §6.3). */
function checkFraming(h: { transferEncoding: string | null; contentLength: number; chunked: boolean }, status: 400 | 502): void {
  if (h.transferEncoding === null) return;
  if (h.contentLength >= 0) throw new HeadError(status, 'both Content-Length and Transfer-Encoding');
  const te = h.transferEncoding.toLowerCase();
  const lastComma = te.lastIndexOf(',');
  const final = (lastComma < 0 ? te : te.slice(lastComma + 1)).trim();
  if (final !== 'chunked') throw new HeadError(status, 'a Transfer-Encoding whose final coding is not chunked');
  if (te.indexOf('chunked') !== te.lastIndexOf('chunked')) throw new HeadError(status, 'chunked applied twice');
  h.chunked = true;
}

// tchar (RFC 9110 §5.6.2) by character code, for methods.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;
const isTchar = (c: number) => c < 128 && TCHAR[c] === 1;

/**
 * Reads the field lines of a request head from s[pos..] (s ends with CRLFCRLF). Every line is
 * checked (a token name, a colon, no folding, no control characters in the value); only the
 * fields the proxy acts on are looked into, by their first letter (c e h k p t u v x).
 */
function parseRequestFields(s: string, pos: number, h: RequestHead): void {
  const last = s.length - 2; // where the final CRLF starts
  while (pos < last) {
    const eol = s.indexOf('\r\n', pos);
    const first = s.charCodeAt(pos);
    if (first === 32 || first === 9) throw new HeadError(400, 'obsolete line folding');
    const colon = s.indexOf(':', pos);
    if (colon < 0 || colon > eol) throw new HeadError(400, 'a header line without a colon');
    if (colon === pos) throw new HeadError(400, 'a malformed header name');
    let underscore = false;
    for (let i = pos; i < colon; i++) {
      const n = s.charCodeAt(i);
      if (!isTchar(n)) throw new HeadError(400, 'a malformed header name');
      if (n === 95) underscore = true;
    }
    // A name with `_` is dropped (as nginx does by default): an app behind a CGI-style mapping,
    // where `-` and `_` both become `_`, would read `X_Forwarded_For` as X-Forwarded-For.
    if (underscore) {
      h.drops.push(pos, eol + 2);
      pos = eol + 2;
      continue;
    }
    let from = colon + 1;
    let to = eol;
    while (from < to && (s.charCodeAt(from) === 32 || s.charCodeAt(from) === 9)) from++;
    while (to > from && (s.charCodeAt(to - 1) === 32 || s.charCodeAt(to - 1) === 9)) to--;
    for (let i = from; i < to; i++) {
      // visible ASCII, obs-text, SP and HTAB; never CR, LF, NUL or other controls
      const c = s.charCodeAt(i);
      if ((c < 32 && c !== 9) || c === 127) throw new HeadError(400, `a control character in ${s.slice(pos, colon)}`);
    }
    const c = first | 0x20;
    if ((c === 99 || c === 101 || c === 104 || c === 107 || c === 112 || c === 116 || c === 117 || c === 118 || c === 120) && requestField(h, s.slice(pos, colon).toLowerCase(), s, from, to, pos, eol + 2)) {
      h.drops.push(pos, eol + 2);
    }
    pos = eol + 2;
  }
}

/** Records what the proxy needs from a field; true when the backend must not get its line as it came. */
function requestField(h: RequestHead, lower: string, s: string, from: number, to: number, lineStart: number, lineEnd: number): boolean {
  switch (lower) {
    case 'content-length': {
      const n = contentLengthOf(s.slice(from, to));
      if (n === -2) throw new HeadError(400, 'a malformed Content-Length');
      if (h.contentLength >= 0 && h.contentLength !== n) throw new HeadError(400, 'two different Content-Lengths');
      h.contentLength = n;
      return true; // written again, once, normalized
    }
    case 'transfer-encoding': {
      const v = s.slice(from, to);
      h.transferEncoding = h.transferEncoding === null ? v : `${h.transferEncoding}, ${v}`;
      return true;
    }
    case 'connection': {
      const v = s.slice(from, to).toLowerCase();
      h.connection = h.connection === null ? v : `${h.connection}, ${v}`;
      return true;
    }
    case 'upgrade':
      h.upgrade = s.slice(from, to);
      return true; // written again when the upgrade is forwarded
    case 'host':
      if (h.host !== null) throw new HeadError(400, 'two Host headers');
      h.host = s.slice(from, to);
      h.hostStart = lineStart;
      h.hostEnd = lineEnd;
      return false;
    case 'expect':
      if (to - from === 12 && s.slice(from, to).toLowerCase() === '100-continue') h.expectContinue = true;
      return false;
    case 'x-forwarded-for': {
      const v = s.slice(from, to);
      h.forwardedFor = h.forwardedFor === null ? v : `${h.forwardedFor}, ${v}`;
      return true; // the proxy writes it with the client's address appended
    }
    case 'x-request-id':
      h.requestId = s.slice(from, to);
      return true;
    case 'via': {
      const v = s.slice(from, to);
      h.via = h.via === null ? v : `${h.via}, ${v}`;
      return true;
    }
    case 'x-forwarded-proto':
    case 'x-forwarded-port':
    case 'x-forwarded-host':
    case 'x-request-start':
      return true; // the proxy's own, whatever the client said
    case 'keep-alive':
    case 'te':
    case 'trailer':
    case 'proxy-connection':
    case 'proxy-authenticate':
    case 'proxy-authorization':
      return true;
  }
  return false;
}

/** Parses a request head: `s` is the head as latin1, ending with CRLFCRLF. Throws HeadError. */
export function parseRequestHead(s: string): RequestHead {
  const h = new RequestHead();
  h.size = s.length;
  const eol = s.indexOf('\r\n');
  const sp1 = s.indexOf(' ');
  if (sp1 <= 0 || sp1 > eol) throw new HeadError(400, 'a malformed request line');
  for (let i = 0; i < sp1; i++) if (!isTchar(s.charCodeAt(i))) throw new HeadError(400, 'a malformed method');
  const sp2 = s.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || sp2 > eol || sp2 === sp1 + 1) throw new HeadError(400, 'a malformed request line');
  if (eol - sp2 !== 9 || s.charCodeAt(sp2 + 1) !== 72 || !s.startsWith('HTTP/1.', sp2 + 1)) throw new HeadError(400, 'an unsupported HTTP version');
  const minor = s.charCodeAt(eol - 1) - 48;
  if (minor !== 0 && minor !== 1) throw new HeadError(400, 'an unsupported HTTP version');
  h.method = s.slice(0, sp1);
  h.target = s.slice(sp1 + 1, sp2);
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c >= 127) throw new HeadError(400, 'a malformed request target');
  }
  h.minor = minor;
  h.fieldsStart = eol + 2;
  parseRequestFields(s, eol + 2, h);
  checkFraming(h, 400);
  if (h.connection !== null && h.connection !== 'keep-alive' && h.connection !== 'close') dropNamedByConnection(s, h, eol + 2);
  if (h.chunked && minor === 0) throw new HeadError(400, 'Transfer-Encoding in an HTTP/1.0 request');
  if (h.host === null && minor === 1) throw new HeadError(400, 'no Host header');
  return h;
}

/**
 * Parses a response head: b[0..size) ending with CRLFCRLF. Throws HeadError (502). It reads the
 * bytes in one pass, without making a string of the head: only the lines the proxy acts on are
 * looked into (by their first letter, c k p t u, and their name's length); the others are checked
 * for shape (a colon, no folding, CR and LF only as the line's end, so the client splits the head
 * as we did) and passed on as bytes. Other control characters in values are the app's business,
 * as they are for nginx.
 */
export function parseResponseHead(b: Buffer, size: number): ResponseHead {
  const h = new ResponseHead();
  h.size = size;
  // "HTTP/1.1 200 OK": the version, a space, three digits, then a space or the line's end.
  if (size < 16 || b[0] !== 72 || b[1] !== 84 || b[2] !== 84 || b[3] !== 80 || b[4] !== 47 || b[5] !== 49 || b[6] !== 46 || b[8] !== 32) {
    throw new HeadError(502, 'a malformed status line');
  }
  const minor = b[7] - 48;
  if (minor !== 0 && minor !== 1) throw new HeadError(502, 'a malformed status line');
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = b[i] - 48;
    if (d < 0 || d > 9) throw new HeadError(502, 'a malformed status code');
    status = status * 10 + d;
  }
  if (status < 100) throw new HeadError(502, 'a malformed status code');
  if (b[12] !== 32 && b[12] !== 13) throw new HeadError(502, 'a malformed status line');
  h.status = status;
  h.minor = minor;
  let i = 12;
  for (;;) {
    const c = b[i];
    if (c === 13) break;
    if (c === 10) throw new HeadError(502, 'a bare CR or LF');
    i++;
  }
  if (b[i + 1] !== 10) throw new HeadError(502, 'a bare CR or LF');
  const fieldsStart = i + 2;
  const last = size - 2; // where the final CRLF starts
  for (let pos = fieldsStart; pos < last; ) {
    const first = b[pos];
    if (first === 32 || first === 9) throw new HeadError(502, 'obsolete line folding');
    // one pass over the line: its colon, and its CR, which must be the CRLF that ends it (a bare
    // CR or LF would split the head differently downstream)
    let colon = -1;
    let end = pos;
    for (;;) {
      const c = b[end];
      if (c === 13) break;
      if (c === 10) throw new HeadError(502, 'a bare CR or LF');
      if (c === 58 && colon < 0) colon = end;
      end++;
    }
    if (b[end + 1] !== 10) throw new HeadError(502, 'a bare CR or LF');
    if (colon < 0) throw new HeadError(502, 'a header line without a colon');
    const before = b[colon - 1];
    if (colon === pos || before === 32 || before === 9) throw new HeadError(502, 'a malformed header name');
    const f = first | 0x20;
    if (f === 99 || f === 107 || f === 112 || f === 116 || f === 117) {
      const kind = responseFieldKind(b, pos, colon - pos);
      if (kind !== OTHER) {
        let from = colon + 1;
        let to = end;
        while (from < to && (b[from] === 32 || b[from] === 9)) from++;
        while (to > from && (b[to - 1] === 32 || b[to - 1] === 9)) to--;
        if (kind !== DROP) responseField(h, kind, b, from, to);
        h.drops.push(pos, end + 2);
      }
    }
    pos = end + 2;
  }
  checkFraming(h, 502);
  if (h.connection !== null && h.connection !== 'keep-alive' && h.connection !== 'close') dropNamedByConnection(b.toString('latin1', 0, size), h, fieldsStart);
  return h;
}

// What a response field is to the proxy (responseFieldKind).
const OTHER = 0; // end-to-end: passed on as it came
const DROP = 1; // hop-by-hop, nothing to learn from it
const CONTENT_LENGTH = 2;
const TRANSFER_ENCODING = 3;
const CONNECTION = 4;
const KEEP_ALIVE = 5;
const UPGRADE = 6;

/** b[pos..pos+n) equals `lower` ignoring ASCII case (`lower` holds only lowercase letters and '-'). */
function nameIs(b: Buffer, pos: number, n: number, lower: string): boolean {
  if (n !== lower.length) return false;
  for (let i = 0; i < n; i++) if ((b[pos + i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Which of the fields the proxy acts on the name b[pos..pos+n) is, by bytes (no string made for the others). */
function responseFieldKind(b: Buffer, pos: number, n: number): number {
  switch (n) {
    case 2:
      return nameIs(b, pos, n, 'te') ? DROP : OTHER;
    case 7:
      if (nameIs(b, pos, n, 'upgrade')) return UPGRADE;
      return nameIs(b, pos, n, 'trailer') ? DROP : OTHER;
    case 10:
      if (nameIs(b, pos, n, 'connection')) return CONNECTION;
      return nameIs(b, pos, n, 'keep-alive') ? KEEP_ALIVE : OTHER;
    case 14:
      return nameIs(b, pos, n, 'content-length') ? CONTENT_LENGTH : OTHER;
    case 16:
      return nameIs(b, pos, n, 'proxy-connection') ? DROP : OTHER;
    case 17:
      return nameIs(b, pos, n, 'transfer-encoding') ? TRANSFER_ENCODING : OTHER;
    case 18:
      return nameIs(b, pos, n, 'proxy-authenticate') ? DROP : OTHER;
    case 19:
      return nameIs(b, pos, n, 'proxy-authorization') ? DROP : OTHER;
  }
  return OTHER;
}

/** Reads the value b[from..to) of a field the proxy acts on; the common values without making a string. */
function responseField(h: ResponseHead, kind: number, b: Buffer, from: number, to: number): void {
  switch (kind) {
    case CONTENT_LENGTH: {
      let n = 0;
      let i = from;
      for (; i < to && i - from < 15; i++) {
        const d = b[i] - 48;
        if (d < 0 || d > 9) break;
        n = n * 10 + d;
      }
      // a plain number is read here; a list ("5, 5") or anything odd goes the long way
      if (i !== to || i === from) n = contentLengthOf(b.toString('latin1', from, to));
      if (n === -2) throw new HeadError(502, 'a malformed Content-Length');
      if (h.contentLength >= 0 && h.contentLength !== n) throw new HeadError(502, 'two different Content-Lengths');
      h.contentLength = n;
      return;
    }
    case TRANSFER_ENCODING: {
      const v = nameIs(b, from, to - from, 'chunked') ? 'chunked' : b.toString('latin1', from, to);
      h.transferEncoding = h.transferEncoding === null ? v : `${h.transferEncoding}, ${v}`;
      return;
    }
    case CONNECTION: {
      const v = nameIs(b, from, to - from, 'keep-alive') ? 'keep-alive' : nameIs(b, from, to - from, 'close') ? 'close' : b.toString('latin1', from, to).toLowerCase();
      h.connection = h.connection === null ? v : `${h.connection}, ${v}`;
      return;
    }
    case KEEP_ALIVE: {
      // "timeout=5, max=100": the seconds after "timeout=" (the proxy's own idle limit is less)
      for (let i = from; i + 8 < to; i++) {
        if (!nameIs(b, i, 8, 'timeout=')) continue;
        let n = 0;
        let j = i + 8;
        for (; j < to && j - i - 8 < 6; j++) {
          const d = b[j] - 48;
          if (d < 0 || d > 9) break;
          n = n * 10 + d;
        }
        if (j > i + 8) h.keepAliveMs = n * 1000;
        return;
      }
      return;
    }
    case UPGRADE:
      h.upgrade = b.toString('latin1', from, to);
  }
}

/**
 * The rare Connection that names other fields: their lines go too (RFC 9110 §7.6.1), but never
 * Host (a backend would then see no Host, or the default one: M4); the X-Forwarded-* fields are
 * the proxy's own whatever Connection says (headers.ts).
 */
function dropNamedByConnection(s: string, h: { connection: string | null; drops: number[] }, from: number): void {
  const named = h.connection!.split(',').map((t) => t.trim()).filter((t) => t !== '' && t !== 'close' && t !== 'keep-alive' && t !== 'host');
  if (named.length === 0) return;
  const last = s.length - 2;
  for (let pos = from; pos < last; ) {
    const end = s.indexOf('\r\n', pos);
    const name = s.slice(pos, s.indexOf(':', pos)).toLowerCase();
    if (named.includes(name) && !isDropped(h.drops, pos)) h.drops.push(pos, end + 2);
    pos = end + 2;
  }
  const pairs: [number, number][] = [];
  for (let i = 0; i < h.drops.length; i += 2) pairs.push([h.drops[i], h.drops[i + 1]]);
  pairs.sort((a, b) => a[0] - b[0]);
  h.drops = pairs.flat();
}

/** Adds [start, end) to the drops, kept in order (the absolute-form Host rewrite). */
export function dropLine(h: { drops: number[] }, start: number, end: number): void {
  if (isDropped(h.drops, start)) return;
  let i = 0;
  while (i < h.drops.length && h.drops[i]! < start) i += 2;
  h.drops.splice(i, 0, start, end);
}

/**
 * A Host value (or an absolute-form authority) the router accepts: a reg-name of letters, digits,
 * `-` and `.`, an IPv4 address, or an IPv6 literal in brackets, then an optional `:port`. Anything
 * else (`a@b`, `a/b`, `a b`, `a,b`, `%`-escapes, `_`) is a 400: it names no app, and a backend must
 * not get a Host that routing did not read the same way (M4).
 */
export function validHost(v: string): boolean {
  const n = v.length;
  if (n === 0) return true; // HTTP/1.0 without Host: routed nowhere (404)
  if (n > 255) return false;
  let i = 0;
  if (v.charCodeAt(0) === 91 /* [ */) {
    const close = v.indexOf(']');
    if (close < 3) return false;
    for (i = 1; i < close; i++) {
      const c = v.charCodeAt(i) | 0x20;
      if (!((c >= 48 && c <= 58) || (c >= 97 && c <= 102) || c === 46)) return false; // hex, ':', '.'
    }
    i = close + 1;
  } else {
    for (; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c === 58 /* : */) break;
      const l = c | 0x20;
      if (!((l >= 97 && l <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46)) return false;
    }
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (v.charCodeAt(i) !== 58 || i + 1 === n || n - i > 6) return false;
  for (i++; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function isDropped(drops: number[], start: number): boolean {
  for (let i = 0; i < drops.length; i += 2) if (drops[i] === start) return true;
  return false;
}

/** Where the head ends (index past CRLFCRLF), -1 when not yet; a bare LF before it is an error. */
export function headEnd(buf: Buffer): number {
  const at = buf.indexOf(CRLFCRLF);
  return at < 0 ? -1 : at + 4;
}

/** True when buf holds a LF not preceded by CR (a head that would never end, or one that smuggles). */
export function hasBareLf(buf: Buffer, upTo = buf.length): boolean {
  let i = buf.indexOf(10);
  while (i >= 0 && i < upTo) {
    if (i === 0 || buf[i - 1] !== 13) return true;
    i = buf.indexOf(10, i + 1);
  }
  return false;
}
