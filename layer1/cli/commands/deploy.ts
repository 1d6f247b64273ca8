// Changing what runs: config, config:set/unset/get, ps, ps:scale/restart/stop, releases,
// releases:info/rollback/create, builds, domains. Mutating commands wait for the rollout
// (the API's ?wait=true) with a spinner on a TTY, and say why when it fails (exit 1).
import type { Command } from 'commander';
import { CliError } from '../client/api.ts';
import { color, ok, printJson, printKeyValues, printTable } from '../client/output.ts';
import { ago, api, appOf, enc, run, withCommon, type CommonOpts } from './common.ts';

interface Failure { check: string; type: string | null; message: string; output: string[] }
interface Deployment { id: string; kind: string; from: number | null; to: number | null; strategy: string; state: string; reason: string; createdAt: string; failure: Failure | null }
interface Release { version: number; image: string | null; procfile: Record<string, string>; config: Record<string, string>; createdBy: string; reason: string; createdAt: string; status: string; failure?: Failure }
interface Rollout { release: Release | null; deployment: Deployment | null }
interface Process { id: string; type: string; state: string; reason: string; host: string | null; address: string | null; registered: boolean; restarts: number; exitCode: number | null; release: string; startedAt: string }
interface Domain { domain: string; app: string; createdAt: string; verified: boolean; verification?: { name: string; type: 'TXT'; value: string } }
interface Build {
  id: string; commit: string; state: string; createdBy: string | null; createdAt: string; durationMs: number | null;
  slug: { blobId: string; size: number } | null; processTypes: Record<string, string>; buildpacks: { name: string; url: string }[];
  failure: { code: string; message: string } | null;
}
const buildState = (s: string) => (s === 'succeeded' ? color.green(s) : s === 'failed' ? color.red(s) : s);

type WaitOpts = CommonOpts & { wait?: boolean };
const withWait = (cmd: Command) => withCommon(cmd).option('--no-wait', 'return at once with the deployment id');

/** Runs a mutating call; with waiting, a spinner on a TTY until the server answers with the final state. */
async function rollout<T extends { deployment: Deployment | null }>(opts: WaitOpts, what: string, call: (wait: boolean) => Promise<T>): Promise<T> {
  const wait = opts.wait !== false;
  const spin = wait && process.stderr.isTTY && !opts.json;
  let i = 0;
  const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
  const timer = spin ? setInterval(() => process.stderr.write(`\r${color.cyan(frames[i++ % frames.length]!)} ${what}…`), 80) : null;
  try {
    return await call(wait);
  } finally {
    if (timer) {
      clearInterval(timer);
      process.stderr.write('\r\x1b[K');
    }
  }
}

function report(opts: WaitOpts, result: { deployment: Deployment | null }, done: string): void {
  const d = result.deployment;
  if (opts.json) return printJson(result);
  if (!d) return ok(done);
  if (d.state === 'failed') {
    const f = d.failure;
    const lines = [`deployment ${d.id} failed${f ? `: ${f.check}${f.type ? ` (${f.type})` : ''}: ${f.message}` : ''}`, ...(d.reason ? [d.reason] : [])];
    if (f?.output.length) lines.push('last output:', ...f.output.map((l) => `  ${l}`));
    throw new CliError(lines.join('\n'));
  }
  if (opts.wait === false) return ok(`${done} — deployment ${d.id} ${d.state} (follow it: slipway deployments ${d.id})`);
  ok(`${done} — ${d.to ? `v${d.to} ` : ''}${d.state}`);
}

const q = (wait: boolean) => (wait ? '?wait=true' : '');

export function registerDeploy(program: Command): void {
  withCommon(program.command('config').description("show the app's config vars"))
    .option('-s, --shell', 'as KEY=value lines')
    .action(run(async (opts: CommonOpts & { shell?: boolean }) => {
      const cfg = await api().get<Record<string, string>>(`/apps/${enc(appOf(opts))}/config`);
      if (opts.json) return printJson(cfg);
      const keys = Object.keys(cfg).sort();
      if (opts.shell) return keys.forEach((k) => process.stdout.write(`${k}=${cfg[k]}\n`));
      if (!keys.length) return void process.stdout.write('no config vars\n');
      printKeyValues(keys.map((k) => [k, cfg[k]!]));
    }));
  withCommon(program.command('config:get').argument('<key>').description('one config var'))
    .action(run(async (key: string, opts: CommonOpts) => {
      const cfg = await api().get<Record<string, string>>(`/apps/${enc(appOf(opts))}/config`);
      if (!(key in cfg)) throw new CliError(`${key} is not set`);
      if (opts.json) return printJson({ [key]: cfg[key] });
      process.stdout.write(`${cfg[key]}\n`);
    }));
  withWait(program.command('config:set').argument('<pairs...>', 'KEY=value ...').description('set config vars: a new release, rolled out'))
    .action(run(async (pairs: string[], opts: WaitOpts) => {
      const changes: Record<string, string> = {};
      for (const p of pairs) {
        const i = p.indexOf('=');
        if (i < 1) throw new CliError(`expected KEY=value, got ${JSON.stringify(p)}`);
        changes[p.slice(0, i)] = p.slice(i + 1);
      }
      const app = appOf(opts);
      const r = await rollout(opts, 'rolling out', (w) => api().request<Rollout>('PATCH', `/apps/${enc(app)}/config${q(w)}`, changes));
      report(opts, r, `set ${Object.keys(changes).join(', ')} on ${app}${r.release ? ` (v${r.release.version})` : ''}`);
    }));
  withWait(program.command('config:unset').argument('<keys...>').description('unset config vars: a new release, rolled out'))
    .action(run(async (keys: string[], opts: WaitOpts) => {
      const app = appOf(opts);
      const r = await rollout(opts, 'rolling out', (w) => api().request<Rollout>('PATCH', `/apps/${enc(app)}/config${q(w)}`, Object.fromEntries(keys.map((k) => [k, null]))));
      report(opts, r, `unset ${keys.join(', ')} on ${app}${r.release ? ` (v${r.release.version})` : ''}`);
    }));

  withCommon(program.command('ps').description("the app's processes"))
    .action(run(async (opts: CommonOpts) => {
      const list = (await api().get<{ items: Process[] }>(`/apps/${enc(appOf(opts))}/processes`)).items;
      if (opts.json) return printJson(list);
      if (!list.length) return void process.stdout.write('no processes\n');
      const state = (p: Process) => (p.state === 'running' ? color.green(p.state) : p.state === 'pending' || p.state === 'exited' ? color.red(p.state) : color.yellow(p.state));
      printTable(['ID', 'TYPE', 'STATE', 'RELEASE', 'HOST', 'ADDRESS', 'RESTARTS', 'SINCE'], list.map((p) => [
        p.id.slice(0, 12), p.type, state(p) + (p.reason ? ` (${p.reason})` : ''), p.release, p.host?.slice(0, 12) ?? '-', p.address ?? '-', p.restarts, ago(p.startedAt),
      ]));
    }));
  withWait(program.command('ps:scale').argument('<sizes...>', 'web=2 worker=1 (or web=2:512M)').description('scale process types'))
    .action(run(async (sizes: string[], opts: WaitOpts) => {
      const body: Record<string, number | { count: number; memory?: string }> = {};
      for (const s of sizes) {
        const m = /^([a-z][a-z0-9_-]*)=(\d+)(?::(\d+[KMG]))?$/i.exec(s);
        if (!m) throw new CliError(`expected TYPE=COUNT or TYPE=COUNT:MEMORY, got ${JSON.stringify(s)}`);
        body[m[1]!] = m[3] ? { count: Number(m[2]), memory: m[3].toUpperCase() } : Number(m[2]);
      }
      const app = appOf(opts);
      const r = await rollout(opts, 'scaling', (w) => api().request<{ deployment: Deployment | null }>('PATCH', `/apps/${enc(app)}/formation${q(w)}`, body));
      report(opts, r, `scaled ${sizes.join(' ')}`);
    }));
  withWait(program.command('ps:restart').argument('[type]').description('replace every process (or one type) with fresh ones'))
    .action(run(async (type: string | undefined, opts: WaitOpts) => {
      const app = appOf(opts);
      const r = await rollout(opts, 'restarting', (w) => api().request<{ deployment: Deployment | null }>('POST', `/apps/${enc(app)}/processes/restart${q(w)}`, type ? { type } : {}));
      report(opts, r, `restarted ${type ?? 'all processes'}`);
    }));
  withCommon(program.command('ps:stop').argument('<id>').description('stop one process (a fresh one replaces it)'))
    .action(run(async (id: string, opts: CommonOpts) => {
      const p = await api().request<Process>('DELETE', `/apps/${enc(appOf(opts))}/processes/${enc(id)}`);
      if (opts.json) return printJson(p);
      ok(`stopping ${p.type} ${p.id.slice(0, 12)}`);
    }));

  withCommon(program.command('releases').description("the app's releases, newest first"))
    .action(run(async (opts: CommonOpts) => {
      const list = (await api().get<{ items: Release[] }>(`/apps/${enc(appOf(opts))}/releases`, { limit: 20 })).items;
      if (opts.json) return printJson(list);
      const st = (s: string) => (s === 'deployed' ? color.green(s) : s === 'failed' ? color.red(s) : s);
      printTable(['VERSION', 'STATUS', 'WHAT', 'BY', 'WHEN'], list.map((r) => [color.bold(`v${r.version}`), st(r.status), r.reason, r.createdBy, ago(r.createdAt)]));
    }));
  withCommon(program.command('releases:info').argument('[version]', 'v3 or 3 (default: the newest)').description('one release'))
    .action(run(async (version: string | undefined, opts: CommonOpts) => {
      const app = appOf(opts);
      const r = version
        ? await api().get<Release>(`/apps/${enc(app)}/releases/${enc(version)}`)
        : (await api().get<{ items: Release[] }>(`/apps/${enc(app)}/releases`, { limit: 1 })).items[0];
      if (!r) throw new CliError(`${app} has no releases yet`);
      if (opts.json) return printJson(r);
      printKeyValues([
        ['version', color.bold(`v${r.version}`)], ['status', r.status], ['image', r.image], ['reason', r.reason], ['by', r.createdBy], ['when', `${r.createdAt} (${ago(r.createdAt)})`],
        ['processes', Object.entries(r.procfile).map(([t, c]) => `${t}: ${c}`).join('; ')], ['config', Object.keys(r.config).sort().join(', ') || '-'],
        ...(r.failure ? [['failure', `${r.failure.check}: ${r.failure.message}`] as [string, string]] : []),
      ]);
    }));
  withWait(program.command('releases:rollback').argument('[version]', 'v3 (default: the release deployed before the current one)').description('a new release with an earlier one\'s image, processes and config'))
    .action(run(async (version: string | undefined, opts: WaitOpts) => {
      const app = appOf(opts);
      const r = await rollout(opts, 'rolling back', (w) => api().request<Rollout>('POST', `/apps/${enc(app)}/rollback${q(w)}`, version ? { version } : {}));
      report(opts, r, `rolled back ${app}${r.release ? ` (v${r.release.version})` : ''}`);
    }));
  withWait(program.command('releases:create').description('a release from an image already on the agents (or a tar URL)'))
    .requiredOption('--image <ref>', 'the image, e.g. slipway/stack:bookworm')
    .option('--image-url <url>', 'where hosts fetch the image tar when they lack it')
    .option('--process <type=command...>', 'a process type and its command (repeatable), e.g. web="node server.js"')
    .action(run(async (opts: WaitOpts & { image: string; imageUrl?: string; process?: string[] }) => {
      const procfile: Record<string, string> = {};
      for (const p of opts.process ?? []) {
        const i = p.indexOf('=');
        if (i < 1) throw new CliError(`expected TYPE=COMMAND, got ${JSON.stringify(p)}`);
        procfile[p.slice(0, i)] = p.slice(i + 1);
      }
      if (!Object.keys(procfile).length) throw new CliError('name at least one process: --process web="…"');
      const app = appOf(opts);
      const r = await rollout(opts, 'rolling out', (w) => api().request<Rollout>('POST', `/apps/${enc(app)}/releases${q(w)}`, { image: opts.image, ...(opts.imageUrl ? { imageUrl: opts.imageUrl } : {}), procfile }));
      report(opts, r, `released ${app}${r.release ? ` v${r.release.version}` : ''}`);
    }));
  withCommon(program.command('builds').description("the app's builds (git push), newest first"))
    .action(run(async (opts: CommonOpts) => {
      const list = (await api().get<{ items: Build[] }>(`/apps/${enc(appOf(opts))}/builds`)).items;
      if (opts.json) return printJson(list);
      if (!list.length) return void process.stdout.write('no builds yet: git push slipway main\n');
      printTable(['ID', 'STATE', 'COMMIT', 'TOOK', 'BY', 'WHEN'], list.map((b) => [
        b.id, buildState(b.state), b.commit.slice(0, 7), b.durationMs === null ? '-' : `${(b.durationMs / 1000).toFixed(1)} s`, b.createdBy ?? '-', ago(b.createdAt),
      ]));
    }));
  withCommon(program.command('builds:info').argument('<id>').description('one build, with its output'))
    .action(run(async (id: string, opts: CommonOpts) => {
      const b = await api().get<Build & { log: string[] }>(`/apps/${enc(appOf(opts))}/builds/${enc(id)}`);
      if (opts.json) return printJson(b);
      printKeyValues([
        ['id', b.id], ['state', buildState(b.state)], ['commit', b.commit], ['by', b.createdBy ?? '-'], ['created', `${b.createdAt} (${ago(b.createdAt)})`],
        ['took', b.durationMs === null ? '-' : `${(b.durationMs / 1000).toFixed(1)} s`],
        ['buildpacks', b.buildpacks.map((p) => p.name).join(', ') || '-'],
        ['processes', Object.entries(b.processTypes).map(([t, c]) => `${t}: ${c}`).join('; ') || '-'],
        ['slug', b.slug ? `${b.slug.blobId.slice(0, 12)} (${(b.slug.size / 2 ** 20).toFixed(1)} MiB)` : '-'],
        ...(b.failure ? [['failure', color.red(`${b.failure.code}: ${b.failure.message}`)] as [string, string]] : []),
      ]);
      if (b.log.length) process.stdout.write(`\n${b.log.join('\n')}\n`);
    }));
  withCommon(program.command('deployments').argument('[id]').description("the app's rollouts (or one), with why one failed"))
    .action(run(async (id: string | undefined, opts: CommonOpts) => {
      const app = appOf(opts);
      const list = id ? [await api().get<Deployment>(`/apps/${enc(app)}/deployments/${enc(id)}`)] : (await api().get<{ items: Deployment[] }>(`/apps/${enc(app)}/deployments`, { limit: 20 })).items;
      if (opts.json) return printJson(id ? list[0] : list);
      printTable(['ID', 'KIND', 'RELEASES', 'STATE', 'WHY', 'WHEN'], list.map((d) => [
        d.id, d.kind, `${d.from ? `v${d.from}` : '-'} → ${d.to ? `v${d.to}` : '-'}`, d.state === 'failed' ? color.red(d.state) : d.state, d.failure ? `${d.failure.check}: ${d.failure.message}` : d.reason, ago(d.createdAt),
      ]));
    }));

  withCommon(program.command('domains').description("the app's custom domains"))
    .action(run(async (opts: CommonOpts) => {
      const list = (await api().get<{ items: Domain[] }>(`/apps/${enc(appOf(opts))}/domains`)).items;
      if (opts.json) return printJson(list);
      printTable(['DOMAIN', 'VERIFIED', 'ADDED'], list.map((d) => [d.domain, d.verified ? 'yes' : `no: TXT ${d.verification?.name ?? ''} "${d.verification?.value ?? ''}"`, ago(d.createdAt)]));
    }));
  /** How to prove a domain is yours, once it is added. */
  const verifyHint = (d: Domain) => d.verification
    ? `\n  it routes once verified: add a DNS record\n    ${d.verification.name}  TXT  "${d.verification.value}"\n  then run: slipway domains:verify ${d.domain} -a ${d.app}`
    : '';
  withCommon(program.command('domains:add').argument('<domain>').description('add a custom domain (one app per domain; a TXT record proves it is yours)'))
    .action(run(async (domain: string, opts: CommonOpts) => {
      const d = await api().request<Domain>('POST', `/apps/${enc(appOf(opts))}/domains`, { domain });
      if (opts.json) return printJson(d);
      ok(`added ${color.bold(d.domain)} to ${d.app}${verifyHint(d)}`);
    }));
  withCommon(program.command('domains:verify').argument('<domain>').description("check the domain's _slipway-challenge TXT record; the router serves the domain once verified"))
    .action(run(async (domain: string, opts: CommonOpts) => {
      const d = await api().request<Domain>('POST', `/apps/${enc(appOf(opts))}/domains/${enc(domain)}/verify`);
      if (opts.json) return printJson(d);
      ok(`${color.bold(d.domain)} is verified: ${d.app} serves it`);
    }));
  withCommon(program.command('domains:remove').argument('<domain>').description('remove a custom domain'))
    .action(run(async (domain: string, opts: CommonOpts) => {
      const app = appOf(opts);
      await api().request('DELETE', `/apps/${enc(app)}/domains/${enc(domain)}`);
      if (opts.json) return printJson({ removed: domain, app });
      ok(`removed ${domain} from ${app}`);
    }));
}
