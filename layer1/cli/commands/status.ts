// `slipway status` (GET /v1/status: disk use, hosts, processes per app, the build queue, component
// health; disk and hosts for admins) and `slipway builds:cache:purge` (DELETE
// /v1/apps/:app/build-cache).
import type { Command } from 'commander';
import { color, ok, printJson, printTable } from '../client/output.ts';
import { ago, api, appOf, enc, run, withCommon, type CommonOpts } from './common.ts';

interface Build { id: string; app: string; state: string; commit: string; createdAt: string; startedAt: string | null }
interface Status {
  alarms?: string[];
  disk: { path: string; usage: Record<string, number>; filesystem: { totalBytes: number; freeBytes: number }; measuredAt: string } | null;
  hosts: { id: string; name: string; address: string; memory: number; cpus: number; jobs: number; running: number; cgroups?: string }[] | null;
  processes: { app: string; running: number; pending: number; crashed: number; other: number }[];
  builds: { running: Build[]; waiting: Build[] };
  components: { name: string; ok: boolean; detail: string }[];
}

/** 1536 → "1.5 KiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const LABELS: Record<string, string> = {
  images: 'images (stack, slugs)', slugs: 'slugs (blobstore)', buildCaches: 'build caches', logs: 'logs',
  git: 'git repos', containers: 'containers', redis: 'redis',
};

let sections = 0;
function section(title: string): void {
  process.stdout.write(`${sections++ ? '\n' : ''}${color.bold(title)}\n`);
}

function print(s: Status): void {
  if (s.alarms?.length) {
    section(color.red('Alarms'));
    for (const a of s.alarms) process.stdout.write(`${color.red('!')} ${a}\n`);
  }
  section('Components');
  const state = (c: Status['components'][number]) => (c.ok ? color.green('ok') : /near maxmemory/.test(c.detail) ? color.red('alarm') : color.red('down'));
  printTable(['component', 'state', 'detail'], s.components.map((c) => [c.name, state(c), c.detail]));
  if (s.disk) {
    const fs = s.disk.filesystem;
    const freePct = fs.totalBytes ? (100 * fs.freeBytes) / fs.totalBytes : 0;
    section(`Disk (${s.disk.path})`);
    printTable(['what', 'size'], [
      ...Object.entries(s.disk.usage).map(([k, v]) => [LABELS[k] ?? k, bytes(v)]),
      ['free on the filesystem', `${(freePct < 10 ? color.red : freePct < 20 ? color.yellow : color.green)(bytes(fs.freeBytes))} of ${bytes(fs.totalBytes)} (${freePct.toFixed(0)}%)`],
    ]);
  }
  if (s.hosts) {
    section('Hosts');
    if (!s.hosts.length) process.stdout.write(`${color.red('no host is heartbeating')}\n`);
    else printTable(['host', 'name', 'address', 'cpus', 'memory', 'jobs', 'cgroups'], s.hosts.map((h) => [h.id.slice(0, 12), h.name, h.address, h.cpus, bytes(h.memory), `${h.running} running / ${h.jobs}`, h.cgroups || '-']));
  }
  section('Processes');
  if (!s.processes.length) process.stdout.write('no app processes\n');
  else printTable(['app', 'running', 'pending', 'crashed', 'other'], s.processes.map((p) => [p.app, p.running, p.pending ? color.yellow(String(p.pending)) : 0, p.crashed ? color.red(String(p.crashed)) : 0, p.other]));
  section('Builds');
  const all = [...s.builds.running, ...s.builds.waiting];
  if (!all.length) process.stdout.write('no build running or waiting\n');
  else printTable(['build', 'app', 'state', 'commit', 'since'], all.map((b) => [b.id, b.app, b.state === 'building' ? color.cyan(b.state) : b.state, b.commit.slice(0, 7), ago(b.startedAt ?? b.createdAt)]));
}

export function registerStatus(program: Command): void {
  withCommon(program.command('status').description('the platform: components, disk use, hosts, processes per app, builds'))
    .action(run(async (opts: CommonOpts) => {
      const s = await api().get<Status>('/status');
      if (opts.json) return printJson(s);
      print(s);
    }));
  withCommon(program.command('builds:cache:purge').description("empty the app's build cache (its next build starts cold)"))
    .action(run(async (opts: CommonOpts) => {
      const app = appOf(opts);
      await api().request('DELETE', `/apps/${enc(app)}/build-cache`);
      if (opts.json) return printJson({ app, purged: true });
      ok(`build cache of ${app} purged`);
    }));
}
