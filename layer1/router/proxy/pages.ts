// The answers the router makes itself (unknown host, maintenance, no backend, bad gateway,
// timeouts, bad requests, HTTPS redirects): small HTML pages that say what happened and why.

const REASONS: Record<number, string> = {
  308: 'Permanent Redirect',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function html(status: number, title: string, text: string): string {
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${status} ${escapeHtml(title)}</title>` +
    `<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}` +
    `h1{font-size:1.4em}small{color:#777}</style></head>\n<body><h1>${status} ${escapeHtml(title)}</h1>` +
    `<p>${escapeHtml(text)}</p><hr><small>slipway router</small></body></html>\n`
  );
}

export interface PageOptions {
  close: boolean;
  requestId?: string;
  location?: string;
  /** HEAD requests get the head only. */
  head?: boolean;
}

/** A complete HTTP/1.1 response (head and body) as a Buffer. */
export function page(status: number, title: string, text: string, o: PageOptions): Buffer {
  const body = html(status, title, text);
  const len = Buffer.byteLength(body);
  let head =
    `HTTP/1.1 ${status} ${REASONS[status] ?? title}\r\nContent-Type: text/html; charset=utf-8\r\n` +
    `Content-Length: ${len}\r\nCache-Control: no-store\r\n`;
  if (o.location) head += `Location: ${o.location}\r\n`;
  if (o.requestId) head += `X-Request-Id: ${o.requestId}\r\n`;
  if (status === 503) head += 'Retry-After: 5\r\n';
  head += o.close ? 'Connection: close\r\n\r\n' : '\r\n';
  return Buffer.from(o.head ? head : head + body, 'utf8');
}
