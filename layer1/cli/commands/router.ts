// The router's commands: maintenance[:on|:off], certs[:add|:remove], routes[:add|:remove],
// apps:settings[:set], and open (the app's URL; a browser only for a person at a terminal).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from '../client/api.ts';
import { color, ok, printJson, printKeyValues, printTable } from '../client/output.ts';
import { ago, api, appOf, enc, run, withCommon, type CommonOpts } from './common.ts';

interface Cert { id: string; app: string; names: string[]; notAfter: string; expired: boolean; fingerprint: string; createdAt: string }
interface PathRoute { id: string; app: string; host: string; path: string; createdAt: string }
interface Settings { httpsRedirect: boolean; url: string }

const readPem = (file: string, what: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
};

const expiry = (c: Cert) => (c.expired ? color.red(`expired ${c.notAfter.slice(0, 10)}`) : c.notAfter.slice(0, 10));

/** `KEY=value` settings → the PATCH body (booleans only, for now). */
function parseSettings(pairs: string[]): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const p of pairs) {
    const m = /^([A-Za-z]+)=(true|false|on|off|1|0)$/i.exec(p);
    if (!m) throw new CliError(`expected NAME=true|false, got ${JSON.stringify(p)} (settings: httpsRedirect)`);
    out[m[1]!] = /^(true|on|1)$/i.test(m[2]!);
  }
  return out;
}

export function registerRouter(program: Command): void {
  withCommon(program.command('maintenance').description('whether the app is in maintenance mode'))
    .action(run(async (opts: CommonOpts) => {
      const m = await api().get<{ app: string; maintenance: boolean }>(`/apps/${enc(appOf(opts))}/maintenance`);
      if (opts.json) return printJson(m);
      process.stdout.write(`${m.app}: maintenance ${m.maintenance ? color.yellow('on') : 'off'}\n`);
    }));
  withCommon(program.command('maintenance:on').description('answer every request with a 503 maintenance page'))
    .action(run(async (opts: CommonOpts) => {
      const m = await api().request<{ app: string; maintenance: boolean }>('PUT', `/apps/${enc(appOf(opts))}/maintenance`);
      if (opts.json) return printJson(m);
      ok(`maintenance mode on for ${m.app}`);
    }));
  withCommon(program.command('maintenance:off').description('serve the app again'))
    .action(run(async (opts: CommonOpts) => {
      const app = appOf(opts);
      await api().request('DELETE', `/apps/${enc(app)}/maintenance`);
      if (opts.json) return printJson({ app, maintenance: false });
      ok(`maintenance mode off for ${app}`);
    }));

  withCommon(program.command('certs').description("the app's TLS certificates"))
    .action(run(async (opts: CommonOpts) => {
      const list = await api().list<Cert>(`/apps/${enc(appOf(opts))}/certs`);
      if (opts.json) return printJson(list);
      if (!list.length) return void process.stdout.write('no certificates: slipway certs:add CERT.pem KEY.pem\n');
      printTable(['ID', 'NAMES', 'EXPIRES', 'FINGERPRINT (SHA-256)', 'ADDED'], list.map((c) => [c.id, c.names.join(', '), expiry(c), c.fingerprint, ago(c.createdAt)]));
    }));
  withCommon(program.command('certs:add').argument('<cert>', 'PEM certificate file (chain after it allowed)').argument('<key>', 'PEM private key file').description('add a certificate; the router serves it by SNI'))
    .action(run(async (certFile: string, keyFile: string, opts: CommonOpts) => {
      const body = { cert: readPem(certFile, 'certificate'), key: readPem(keyFile, 'key') };
      const c = await api().request<Cert>('POST', `/apps/${enc(appOf(opts))}/certs`, body);
      if (opts.json) return printJson(c);
      ok(`added certificate ${c.id} to ${c.app}`);
      printKeyValues([['names', c.names.join(', ')], ['expires', expiry(c)], ['fingerprint', c.fingerprint]]);
    }));
  withCommon(program.command('certs:remove').argument('<id>').description('remove a certificate'))
    .action(run(async (id: string, opts: CommonOpts) => {
      const app = appOf(opts);
      await api().request('DELETE', `/apps/${enc(app)}/certs/${enc(id)}`);
      if (opts.json) return printJson({ removed: id, app });
      ok(`removed certificate ${id} from ${app}`);
    }));

  withCommon(program.command('routes').description("the app's path routes (HOST/PATH → this app)"))
    .action(run(async (opts: CommonOpts) => {
      const list = await api().list<PathRoute>(`/apps/${enc(appOf(opts))}/routes`);
      if (opts.json) return printJson(list);
      if (!list.length) return void process.stdout.write('no path routes: slipway routes:add HOST/PATH\n');
      printTable(['ID', 'ROUTE', 'ADDED'], list.map((r) => [r.id, `${r.host}${r.path}`, ago(r.createdAt)]));
    }));
  withCommon(program.command('routes:add').argument('<route>', 'HOST/PATH, e.g. www.example.com/api').description('route a path prefix of a hostname to this app'))
    .action(run(async (route: string, opts: CommonOpts) => {
      const i = route.indexOf('/');
      const [host, path] = i < 0 ? [route, '/'] : [route.slice(0, i), route.slice(i)];
      if (!host) throw new CliError(`expected HOST/PATH, got ${JSON.stringify(route)}`);
      const r = await api().request<PathRoute>('POST', `/apps/${enc(appOf(opts))}/routes`, { host, path });
      if (opts.json) return printJson(r);
      ok(`routed ${color.bold(`${r.host}${r.path}`)} to ${r.app} (${r.id})`);
    }));
  withCommon(program.command('routes:remove').argument('<id>').description('remove a path route'))
    .action(run(async (id: string, opts: CommonOpts) => {
      const app = appOf(opts);
      await api().request('DELETE', `/apps/${enc(app)}/routes/${enc(id)}`);
      if (opts.json) return printJson({ removed: id, app });
      ok(`removed path route ${id} from ${app}`);
    }));

  withCommon(program.command('apps:settings').description("the app's router settings"))
    .action(run(async (opts: CommonOpts) => {
      const s = await api().get<Settings>(`/apps/${enc(appOf(opts))}/settings`);
      if (opts.json) return printJson(s);
      printKeyValues([['httpsRedirect', String(s.httpsRedirect)], ['url', s.url]]);
    }));
  withCommon(program.command('apps:settings:set').argument('<pairs...>', 'httpsRedirect=true|false').description('change router settings'))
    .action(run(async (pairs: string[], opts: CommonOpts) => {
      const app = appOf(opts);
      const s = await api().request<Settings>('PATCH', `/apps/${enc(app)}/settings`, parseSettings(pairs));
      if (opts.json) return printJson(s);
      ok(`updated ${app}: httpsRedirect=${s.httpsRedirect}`);
    }));

  withCommon(program.command('open').description("the app's URL: opened in a browser at a terminal, printed otherwise"))
    .action(run(async (opts: CommonOpts) => {
      const { url } = await api().get<Settings>(`/apps/${enc(appOf(opts))}/settings`);
      if (opts.json) return printJson({ url });
      process.stdout.write(`${url}\n`);
      // Only a person at a terminal gets a browser (never scripts or tests); xdg-open may be absent.
      if (process.stdout.isTTY && process.stdin.isTTY && !process.env.CI) {
        const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
        child.on('error', () => undefined);
        child.unref();
      }
    }));
}
