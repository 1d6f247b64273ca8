// The steps that turn a container record into a running process and back: mount the overlay,
// attach the network, write /etc files and config.json, start conmon (runc create) and runc
// start; and the reverse once it has exited. Each step is idempotent, so a retry is safe.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFilePrivate } from '../common/private-state.ts';
import { join } from 'node:path';
import type { Logger } from '../common/logger.ts';
import type { SlipwayPaths } from '../common/paths.ts';
import { ISOLATION_LABEL, type HostNetwork } from '../network/types.ts';
import { startMonitor } from './conmon.ts';
import type { ImageStore } from './images/store.ts';
import { buildOciSpec } from './oci-spec.ts';
import { mountOverlay, unmount } from './overlay.ts';
import { Runc } from './runc.ts';
import type { ContainerRecord } from './types.ts';

export interface RuntimeContext {
  paths: SlipwayPaths;
  images: ImageStore;
  network: HostNetwork;
  runc: Runc;
  log: Logger;
  logSizeMax: number;
  containersRoot: string;
  exitDir: string;
  socketDir: string;
  /** Readers of a container's rootfs outside its run (docker cp): exit leaves the mount to them. */
  mountUsers: Map<string, number>;
}

const ETC_FILE_MODE = 0o644;
/** Files of a container dir that its processes see (bind mounts): they keep 0644. */
export const CONTAINER_ETC_FILES = ['hosts', 'hostname', 'resolv.conf'];

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export const runcIdOf = (ctx: RuntimeContext, id: string) => `${ctx.paths.prefix}-${id}`;
export const cgroupsPathOf = (ctx: RuntimeContext, id: string) => `/${ctx.paths.prefix}/${runcIdOf(ctx, id)}`;
export const exitFileOf = (ctx: RuntimeContext, id: string) => join(ctx.exitDir, runcIdOf(ctx, id));

export function dirsOf(ctx: RuntimeContext, id: string) {
  const dir = join(ctx.containersRoot, id);
  return {
    dir,
    rootfs: join(dir, 'rootfs'),
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    persist: join(dir, 'monitor'),
    hosts: join(dir, 'hosts'),
    hostname: join(dir, 'hostname'),
    resolvConf: join(dir, 'resolv.conf'),
  };
}

export async function mountRootfs(ctx: RuntimeContext, rec: ContainerRecord): Promise<string> {
  const d = dirsOf(ctx, rec.id);
  await mountOverlay(ctx.images.layerPaths(rec.imageId), d.upper, d.work, d.rootfs);
  return d.rootfs;
}

function hostResolvConf(): string | null {
  try {
    const text = readFileSync('/etc/resolv.conf', 'utf8');
    // A resolver on the host's loopback is unreachable from a container's own netns.
    if (/^\s*nameserver\s+127\./m.test(text)) return null;
    return text;
  } catch {
    return null;
  }
}

function processEnv(rec: ContainerRecord, home: string): string[] {
  const env = [...rec.spec.env];
  const has = (k: string) => env.some((e) => e.startsWith(`${k}=`));
  if (!has('PATH')) env.unshift(`PATH=${DEFAULT_PATH}`);
  if (!has('HOSTNAME')) env.push(`HOSTNAME=${rec.spec.hostname}`);
  if (!has('HOME')) env.push(`HOME=${home || '/'}`);
  if (rec.spec.tty && !has('TERM')) env.push('TERM=xterm');
  return env;
}

/** Runs the container; resolves with its init pid. On failure everything it did is undone. */
export async function launch(ctx: RuntimeContext, rec: ContainerRecord): Promise<number> {
  const d = dirsOf(ctx, rec.id);
  const id = runcIdOf(ctx, rec.id);
  try {
    rmSync(exitFileOf(ctx, rec.id), { force: true });
    rmSync(join(d.persist, 'exit'), { force: true });
    rmSync(join(d.persist, 'oom'), { force: true });
    rmSync(join(d.dir, 'oom'), { force: true });
    const rootfs = await mountRootfs(ctx, rec);
    const user = ctx.images.resolveUser(rec.imageId, rec.spec.user);
    let netns: string | null | 'host' = rec.spec.network === 'host' ? 'host' : null;
    rec.network = { mode: rec.spec.network, ip: '', gateway: '', prefixLength: 0, mac: '', netnsPath: null, ports: [] };
    if (rec.spec.network === 'bridge') {
      const a = await ctx.network.attach({ containerId: rec.id, ports: rec.spec.ports, group: rec.spec.labels[ISOLATION_LABEL] });
      rec.network = { mode: 'bridge', ...a };
      netns = a.netnsPath;
    }
    const ipLine = rec.network.ip ? `${rec.network.ip}\t${rec.spec.hostname}\n` : '';
    // Bind-mounted into the container, whose user (not root) reads them: 0644, behind the 0700 container dir.
    writeFileSync(d.hosts, `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${ipLine}`, { mode: ETC_FILE_MODE });
    writeFileSync(d.hostname, `${rec.spec.hostname}\n`, { mode: ETC_FILE_MODE });
    const resolv = hostResolvConf();
    if (resolv !== null) writeFileSync(d.resolvConf, resolv, { mode: ETC_FILE_MODE });
    const spec = buildOciSpec({
      spec: rec.spec,
      rootfs,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      env: processEnv(rec, user.home),
      netns,
      cgroupsPath: cgroupsPathOf(ctx, rec.id),
      etcFiles: { hosts: d.hosts, hostname: d.hostname, resolvConf: resolv === null ? null : d.resolvConf },
    });
    writeFilePrivate(join(d.dir, 'config.json'), JSON.stringify(spec));
    const pid = await startMonitor({
      runcId: id,
      name: rec.spec.name,
      bundle: d.dir,
      runcRoot: ctx.runc.root,
      logPath: rec.logPath,
      logSizeMax: ctx.logSizeMax,
      exitDir: ctx.exitDir,
      persistDir: d.persist,
      socketDir: ctx.socketDir,
      tty: rec.spec.tty,
    });
    await ctx.runc.start(id);
    return pid;
  } catch (err) {
    await cleanupRun(ctx, rec).catch((e) => ctx.log.warn({ err: e, id: rec.id }, 'clean-up after a failed start'));
    throw err;
  }
}

/** After exit (or a failed start): runc state and cgroups, the mount, the network. */
export async function cleanupRun(ctx: RuntimeContext, rec: ContainerRecord): Promise<void> {
  await ctx.runc.delete(runcIdOf(ctx, rec.id), true);
  rmSync(join(ctx.socketDir, runcIdOf(ctx, rec.id)), { force: true, recursive: true });
  if (!ctx.mountUsers.get(rec.id)) await unmount(dirsOf(ctx, rec.id).rootfs);
  if (rec.spec.network === 'bridge') await ctx.network.detach(rec.id);
}

export function readExitCode(ctx: RuntimeContext, id: string): number | null {
  const file = exitFileOf(ctx, id);
  if (!existsSync(file)) return null;
  const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  return Number.isFinite(n) ? n : 255;
}
