// The request and response head parsers: what they accept, and every ambiguity they refuse.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwardRequestHead, responseHead } from '../../../../../layer1/router/proxy/headers.ts';
import { dropLine, hasBareLf, hasToken, headEnd, HeadError, parseRequestHead, parseResponseHead, validHost } from '../../../../../layer1/router/proxy/parse.ts';

const req = (s: string) => parseRequestHead(s);
const res = (s: string) => parseResponseHead(Buffer.from(s, 'latin1'), s.length);
function refused(s: string, status = 400): string {
  try {
    parseRequestHead(s);
  } catch (err) {
    assert.ok(err instanceof HeadError);
    assert.equal(err.status, status);
    return err.reason;
  }
  assert.fail(`accepted: ${JSON.stringify(s)}`);
}

describe('parseRequestHead', () => {
  it('reads the request line and the fields the proxy needs', () => {
    const h = req('POST /a/b?c=1 HTTP/1.1\r\nHost: App.Example.com:8080\r\nContent-Length: 12\r\nConnection: keep-alive, X-Foo\r\nX-Foo: 1\r\nX-Forwarded-For: 10.0.0.1\r\nX-Request-Id: abc\r\nVia: 1.0 other\r\nExpect: 100-continue\r\n\r\n');
    assert.equal(h.method, 'POST');
    assert.equal(h.target, '/a/b?c=1');
    assert.equal(h.minor, 1);
    assert.equal(h.host, 'App.Example.com:8080');
    assert.equal(h.contentLength, 12);
    assert.equal(h.chunked, false);
    assert.equal(h.connection, 'keep-alive, x-foo');
    assert.equal(h.forwardedFor, '10.0.0.1');
    assert.equal(h.requestId, 'abc');
    assert.equal(h.via, '1.0 other');
    assert.equal(h.expectContinue, true);
  });

  it('trims optional whitespace around values and accepts an empty value', () => {
    const h = req('GET / HTTP/1.1\r\nHost:\t a \r\nX-Empty:\r\nExpect:  100-Continue \r\n\r\n');
    assert.equal(h.host, 'a');
    assert.equal(h.expectContinue, true);
  });

  it('takes chunked as the final coding, and equal Content-Lengths as one', () => {
    assert.equal(req('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n').chunked, true);
    assert.equal(req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n').contentLength, 5);
    assert.equal(req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n').contentLength, 5);
  });

  it('accepts HTTP/1.0 without Host', () => {
    const h = req('GET / HTTP/1.0\r\n\r\n');
    assert.equal(h.minor, 0);
    assert.equal(h.host, null);
  });

  it('refuses request smuggling', () => {
    assert.match(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'), /both/);
    assert.match(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'), /two different/);
    assert.match(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n'), /Content-Length/);
    assert.match(refused('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'), /final coding/);
    assert.match(refused('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n'), /final coding/);
    assert.match(refused('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'), /twice/);
    assert.match(refused('POST / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n'), /folding/);
    assert.match(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n'), /Content-Length/);
    assert.match(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n'), /Content-Length/);
    assert.match(refused('POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n'), /header name/);
    assert.match(refused('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'), /HTTP\/1.0/);
  });

  it('refuses malformed heads', () => {
    refused('GET /\r\nHost: a\r\n\r\n');
    refused('GET  / HTTP/1.1\r\nHost: a\r\n\r\n');
    refused('GET / HTTP/2.0\r\nHost: a\r\n\r\n');
    refused('GET / HTTP/1.1 \r\nHost: a\r\n\r\n');
    refused('G(T / HTTP/1.1\r\nHost: a\r\n\r\n');
    refused('GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n');
    refused('GET / HTTP/1.1\r\nHost a\r\n\r\n');
    refused('GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n');
    refused('GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n');
    refused('GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n');
    assert.match(refused('GET / HTTP/1.1\r\nX: 1\r\n\r\n'), /no Host/);
    assert.match(refused('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'), /two Host/);
  });
});

describe('parseResponseHead', () => {
  it('reads the status line and framing', () => {
    const h = res('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n');
    assert.equal(h.status, 200);
    assert.equal(h.contentLength, 3);
    assert.equal(h.connection, 'close');
    assert.equal(res('HTTP/1.1 204\r\n\r\n').status, 204);
    assert.equal(res('HTTP/1.0 404 Not Found\r\n\r\n').minor, 0);
  });

  it('refuses a malformed status line or ambiguous framing with 502', () => {
    for (const s of ['HTTP/1.1 20 OK\r\n\r\n', 'HTTP/1.1 abc OK\r\n\r\n', 'HTTP/2 200 OK\r\n\r\n', 'garbage\r\n\r\n', 'HTTP/1.1 200OK\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n']) {
      assert.throws(() => res(s), (e: unknown) => e instanceof HeadError && e.status === 502, s);
    }
  });
});

describe('helpers', () => {
  it('hasToken finds whole tokens only', () => {
    assert.equal(hasToken('keep-alive, upgrade', 'upgrade'), true);
    assert.equal(hasToken('upgrade', 'upgrade'), true);
    assert.equal(hasToken('x-upgraded', 'upgrade'), false);
    assert.equal(hasToken('close,upgrade', 'close'), true);
    assert.equal(hasToken(null, 'close'), false);
  });

  it('headEnd and hasBareLf', () => {
    assert.equal(headEnd(Buffer.from('GET / HTTP/1.1\r\n\r\nrest')), 18);
    assert.equal(headEnd(Buffer.from('GET / HTTP/1.1\r\n')), -1);
    assert.equal(hasBareLf(Buffer.from('GET / HTTP/1.1\nHost: a\n')), true);
    assert.equal(hasBareLf(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n')), false);
  });
});

describe('forwardRequestHead (the client’s bytes minus hop-by-hop lines, plus the forwarding fields)', () => {
  const fwd = (raw: string, o: { target?: string; upgrade?: boolean } = {}) => {
    const h = parseRequestHead(raw);
    const f = { clientIp: '10.1.2.3', proto: 'https' as const, port: 8443, requestId: 'rid-1', target: o.target ?? h.target, upgrade: o.upgrade ?? false, now: 1234 };
    return forwardRequestHead(Buffer.from(raw + 'BODY', 'latin1'), h, f).toString('latin1');
  };

  it('keeps end-to-end lines byte for byte, drops hop-by-hop ones and writes the forwarding fields', () => {
    const out = fwd('POST /a?b HTTP/1.1\r\nHost: App.example.com:8080\r\ncontent-length: 004\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Authorization: x\r\n' +
      'Cookie: a=b; c=d\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: gopher\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Port: 1\r\nX-Request-Start: t=0\r\nVia: 1.0 edge\r\nX-Request-Id: abc\r\nuser-agent: t\r\n\r\n');
    assert.equal(out, 'POST /a?b HTTP/1.1\r\nHost: App.example.com:8080\r\nCookie: a=b; c=d\r\nuser-agent: t\r\nContent-Length: 4\r\n' +
      'X-Forwarded-For: 1.1.1.1, 10.1.2.3\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 8443\r\nX-Forwarded-Host: App.example.com:8080\r\n' +
      'X-Request-Id: rid-1\r\nX-Request-Start: t=1234\r\nVia: 1.0 edge, 1.1 slipway\r\n\r\n');
  });

  it('rewrites the target, keeps chunked framing, forwards an upgrade and keeps HTTP/1.0 alive', () => {
    assert.match(fwd('GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n', { target: '/x' }), /^GET \/x HTTP\/1.1\r\nHost: a\r\nX-Forwarded-For: 10.1.2.3\r\n/);
    assert.match(fwd('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,  chunked\r\n\r\n'), /\r\nHost: a\r\nTransfer-Encoding: gzip,  chunked\r\nX-Forwarded-For/);
    const up = fwd('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n', { upgrade: true });
    assert.match(up, /^GET \/ws HTTP\/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\n/);
    assert.match(up, /Connection: upgrade\r\nUpgrade: websocket\r\n\r\n$/);
    assert.match(fwd('GET / HTTP/1.0\r\n\r\n'), /^GET \/ HTTP\/1.0\r\nX-Forwarded-For: 10.1.2.3\r\n(?!.*X-Forwarded-Host).*Connection: keep-alive\r\n\r\n$/s);
  });
});

describe('M4: Host and forwarding fields cannot be spoofed through the head', () => {
  const fwd = (raw: string, host: string | null = null) => {
    const h = parseRequestHead(raw);
    if (host !== null && h.hostStart >= 0) dropLine(h, h.hostStart, h.hostEnd);
    return forwardRequestHead(Buffer.from(raw, 'latin1'), h, { clientIp: '10.1.2.3', proto: 'http', port: 80, requestId: 'r', target: '/', host, upgrade: false, now: 1 }).toString('latin1');
  };

  it('header names with "_" never reach the backend', () => {
    const out = fwd('GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\nx_real_ip: 6.6.6.6\r\nX-Ok: 1\r\n\r\n');
    assert.doesNotMatch(out, /_/);
    assert.match(out, /\r\nX-Ok: 1\r\n/);
    assert.match(out, /X-Forwarded-For: 10\.1\.2\.3\r\n/);
  });

  it('Connection cannot drop Host nor the forwarding fields', () => {
    const h = parseRequestHead('GET / HTTP/1.1\r\nHost: shop.localhost\r\nConnection: host, x-forwarded-for, x-forwarded-host, X-Hop\r\nX-Hop: 1\r\n\r\n');
    assert.equal(h.host, 'shop.localhost');
    const out = fwd('GET / HTTP/1.1\r\nHost: shop.localhost\r\nConnection: host, x-forwarded-for, x-forwarded-host, X-Hop\r\nX-Hop: 1\r\n\r\n');
    assert.match(out, /^GET \/ HTTP\/1.1\r\nHost: shop\.localhost\r\n/);
    assert.match(out, /X-Forwarded-For: 10\.1\.2\.3\r\n/);
    assert.match(out, /X-Forwarded-Host: shop\.localhost\r\n/);
    assert.doesNotMatch(out, /X-Hop/);
  });

  it('an absolute-form request gets the Host it was routed by (RFC 9112 §3.2.2)', () => {
    const out = fwd('GET http://victim.localhost/x HTTP/1.1\r\nHost: attacker.localhost\r\nAccept: */*\r\n\r\n', 'victim.localhost');
    assert.doesNotMatch(out, /attacker/);
    assert.match(out, /\r\nAccept: \*\/\*\r\nHost: victim\.localhost\r\n/);
    assert.match(out, /X-Forwarded-Host: victim\.localhost\r\n/);
    assert.match(fwd('GET http://v.localhost/ HTTP/1.0\r\n\r\n', 'v.localhost'), /\r\nHost: v\.localhost\r\n/);
  });

  it('validHost: names, IPv4, IPv6 literals and a port; nothing else', () => {
    for (const ok of ['shop.localhost', 'SHOP.localhost:8080', '127.0.0.1', '[::1]', '[::1]:80', 'a-b.c', '']) assert.equal(validHost(ok), true, ok);
    for (const bad of ['a@b', 'a/b', 'a b', 'a,b', 'a_b.localhost', 'x%2e', 'a:', 'a:99999x', ':80', '[zz]', '[::1', 'a:1234567']) assert.equal(validHost(bad), false, bad);
  });
});

describe('responseHead (the backend’s bytes minus hop-by-hop lines)', () => {
  const build = (raw: string, o: { close?: boolean; keepAlive10?: boolean; upgrade?: boolean } = {}) => {
    const src = Buffer.from(raw, 'latin1');
    const h = res(raw);
    return responseHead(src, h, o.close ?? false, o.keepAlive10 ?? false, o.upgrade ?? false, 0).toString('latin1');
  };

  it('keeps end-to-end lines byte for byte and drops hop-by-hop ones', () => {
    const out = build('HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nset-cookie: a=b\r\nTE: trailers\r\nTrailer: X\r\nProxy-Authenticate: Basic\r\nContent-Length: 3\r\n\r\n');
    assert.equal(out, 'HTTP/1.1 200 OK\r\nServer: x\r\nset-cookie: a=b\r\nContent-Length: 3\r\n\r\n');
  });

  it('speaks HTTP/1.1 to the client and writes framing and Connection itself', () => {
    assert.equal(build('HTTP/1.0 200 OK\r\nX: 1\r\n\r\n', { close: true }), 'HTTP/1.1 200 OK\r\nX: 1\r\nConnection: close\r\n\r\n');
    assert.equal(build('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', { keepAlive10: true }), 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n');
    assert.equal(build('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: abc\r\n\r\n', { upgrade: true }),
      'HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: abc\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
    assert.equal(build('HTTP/1.1 204 No Content\r\n\r\n'), 'HTTP/1.1 204 No Content\r\n\r\n');
  });

  it('reads the backend’s keep-alive timeout, and refuses bare CR/LF and folding', () => {
    assert.equal(res('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\n\r\n').keepAliveMs, 5000);
    for (const bad of ['HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n', 'HTTP/1.1 200 OK\r\nX: a\nb\r\n\r\n', 'HTTP/1.1 200 O\nK\r\n\r\n', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', 'HTTP/1.1 200 OK\r\nX : a\r\n\r\n', 'HTTP/1.1 200 OK\r\nnocolon\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n']) {
      assert.throws(() => res(bad), (e: unknown) => e instanceof HeadError && e.status === 502, JSON.stringify(bad));
    }
  });
});
