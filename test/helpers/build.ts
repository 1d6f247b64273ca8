// Runs Slipway's build driver (buildpacks/bin/build) in a real build container on layer 0's
// runtime, exactly as buildpacks/README.md's contract says: binds, env, the source copied to
// /tmp/build and config vars to /tmp/env before start, output streamed line by line.
// Used by test/integration/buildpacks.test.ts; the builder (layer1/builder) talks to the agent
// instead, but `buildContainerSpec` and `hostNpmSettings` show the exact spec it must send.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import type { ContainerRuntime, ContainerSpecInput } from '../../layer0/runtime/index.ts';
import { prepareBuildCache } from '../../layer1/builder/cache.ts';
import { reownTar } from '../../layer1/builder/container-files.ts';
import { CONTAINER_CA_PATH, DEFAULT_REGISTRY, hostCaBundle, SYSTEM_CA_BUNDLE } from '../../layer1/builder/host-env.ts';

/** The stack's `app`: builds run as it (issue 13, M1). */
export const APP_UID = 10001;

export const BUILDPACKS_DIR = fileURLToPath(new URL('../../buildpacks', import.meta.url));
export const FIXTURE_APPS = fileURLToPath(new URL('../fixtures/apps', import.meta.url));
/** Where the host CA bundle appears inside build containers. */
export const CONTAINER_CA = CONTAINER_CA_PATH;

export interface HostNpmSettings {
  registry: string;
  /** The host's CA bundle (the machine adds its own authorities; npm fails without them). */
  caFile: string;
}

let npmSettings: HostNpmSettings | undefined;
/** `npm config get registry` and the CA bundle the builder uses (host-env.ts), read once. */
export function hostNpmSettings(): HostNpmSettings {
  if (!npmSettings) {
    const registry = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim() || DEFAULT_REGISTRY;
    npmSettings = { registry, caFile: hostCaBundle() ?? SYSTEM_CA_BUNDLE };
  }
  return npmSettings;
}

export interface BuildSpecInput {
  name: string;
  /** The stack image (`slipway/stack:bookworm`). */
  image: string;
  /** Host dir bound read-write at /tmp/cache (the app's build cache). */
  cacheDir: string;
  sourceVersion: string;
  buildpackUrl?: string;
  memory?: number;
  npm?: HostNpmSettings;
  /** More `K=V` for the driver itself (e.g. SLIPWAY_BUILD_TRACE=1 traces it with timestamps). */
  extraEnv?: string[];
  /** More read-only binds, host → container (a buildpack the builder cloned on the host). */
  extraBinds?: Record<string, string>;
  /** Host dir bound read-write at /slipway/runtimes: the host-wide Node/npm/yarn/pnpm tarball
   * cache the builder binds (`$SLIPWAY_CACHE/runtimes`; made and owned by 10001 here). */
  runtimesDir?: string;
}

/** The build container of the contract: user `app` (10001, no capabilities), bridge network, binds, env. */
export function buildContainerSpec(i: BuildSpecInput): ContainerSpecInput {
  const npm = i.npm ?? hostNpmSettings();
  const env = [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'LANG=C.UTF-8',
    'STACK=bookworm',
    `SOURCE_VERSION=${i.sourceVersion}`,
    `NODE_EXTRA_CA_CERTS=${CONTAINER_CA}`,
    `npm_config_cafile=${CONTAINER_CA}`,
    `npm_config_registry=${npm.registry}`,
  ];
  if (i.buildpackUrl) env.push(`BUILDPACK_URL=${i.buildpackUrl}`);
  env.push(...(i.extraEnv ?? []));
  const binds = [
    { source: BUILDPACKS_DIR, destination: '/slipway/buildpacks', readonly: true },
    { source: i.cacheDir, destination: '/tmp/cache', readonly: false },
    { source: npm.caFile, destination: CONTAINER_CA, readonly: true },
  ];
  if (i.runtimesDir) binds.push({ source: i.runtimesDir, destination: '/slipway/runtimes', readonly: false });
  for (const [source, destination] of Object.entries(i.extraBinds ?? {})) binds.push({ source, destination, readonly: true });
  return {
    name: i.name,
    image: i.image,
    args: ['/slipway/buildpacks/bin/build'],
    env,
    user: `${APP_UID}:${APP_UID}`,
    workingDir: '/tmp',
    hostname: 'build',
    network: 'bridge',
    memory: i.memory ?? 1024 * 1024 * 1024,
    pidsLimit: 1024,
    binds,
  };
}

export interface BuildResult {
  buildpacks: { name: string; url: string }[];
  processTypes: Record<string, string>;
  stack: string;
  slugBytes: number;
}

export interface BuildOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Both streams in the order the lines arrived. */
  output: string;
  result: BuildResult | null;
  /** `<outDir>/slug.tgz` when the build made one. */
  slugPath: string | null;
  ms: number;
}

export interface RunBuildInput extends Omit<BuildSpecInput, 'sourceVersion'> {
  runtime: ContainerRuntime;
  /** The app's source tree on the host (stands in for `git archive` of the pushed commit). */
  sourceDir: string;
  /** Host dir /tmp/out is copied into after the build (as the builder reads it: from the stopped container). */
  outDir: string;
  sourceVersion?: string;
  /** Config vars, written as files into /tmp/env. */
  config?: Record<string, string>;
  timeoutMs?: number;
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
}

/** Creates the build container, copies source and config in (owned by app), runs the driver, copies /tmp/out out, removes the container. */
export async function runBuild(i: RunBuildInput): Promise<BuildOutcome> {
  mkdirSync(i.outDir, { recursive: true });
  await prepareBuildCache(i.cacheDir, APP_UID); // as the builder does: the app's, no setuid bits
  if (i.runtimesDir) {
    mkdirSync(i.runtimesDir, { recursive: true });
    chownSync(i.runtimesDir, 10001, 10001);
  }
  const spec = buildContainerSpec({ ...i, sourceVersion: i.sourceVersion ?? 'f00dfeed'.repeat(5) });
  const c = await i.runtime.create(spec);
  const staging = mkdtempSync(join(tmpdir(), 'slwt-src-'));
  try {
    mkdirSync(join(staging, 'env'));
    for (const [k, v] of Object.entries(i.config ?? {})) writeFileSync(join(staging, 'env', k), v);
    execFileSync('cp', ['-a', i.sourceDir, join(staging, 'build')]);
    const archive = (tar.c({ cwd: staging, portable: true }, ['build', 'env']) as unknown as NodeJS.ReadableStream).pipe(reownTar(APP_UID));
    await i.runtime.archivePut(c.id, '/tmp', archive);

    const t0 = Date.now();
    const ac = new AbortController();
    let stdout = '';
    let stderr = '';
    let output = '';
    const attached = (async () => {
      for await (const l of i.runtime.attach(c.id, ac.signal)) {
        const text = l.data.toString();
        if (l.stream === 'stdout') stdout += text;
        else stderr += text;
        output += text;
        i.onLine?.(l.stream, text.replace(/\n$/, ''));
      }
    })().catch(() => undefined);
    const exited = i.runtime.wait(c.id, 'next-exit');
    await i.runtime.start(c.id);
    const timeout = i.timeoutMs ?? 300_000;
    let timer: NodeJS.Timeout | undefined;
    const res = await Promise.race([
      exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`build ${i.name} did not finish in ${timeout} ms:\n${output}`)), timeout);
      }),
    ]).finally(() => clearTimeout(timer));
    await Promise.race([attached, new Promise((r) => setTimeout(r, 2000))]);
    ac.abort();
    const ms = Date.now() - t0;
    if (res.exitCode === 0) await copyOut(i.runtime, c.id, i.outDir);
    const slug = join(i.outDir, 'slug.tgz');
    const resultFile = join(i.outDir, 'result.json');
    const result = res.exitCode === 0 && existsSync(resultFile) ? (JSON.parse(readFileSync(resultFile, 'utf8')) as BuildResult) : null;
    return { exitCode: res.exitCode, stdout, stderr, output, result, slugPath: existsSync(slug) ? slug : null, ms };
  } finally {
    rmSync(staging, { recursive: true, force: true });
    await i.runtime.remove(c.id, { force: true }).catch(() => undefined);
  }
}

/** /tmp/out of a stopped build container into `outDir` (regular files only, as the builder takes them). */
async function copyOut(runtime: ContainerRuntime, id: string, outDir: string): Promise<void> {
  const { tar: stream } = await runtime.archiveGet(id, '/tmp/out');
  await new Promise<void>((resolve, reject) => {
    const x = tar.x({ cwd: outDir, strip: 1, filter: (_p, e) => (e as { type?: string }).type === 'File' });
    x.on('error', reject);
    x.on('close', resolve);
    x.on('finish', resolve);
    stream.on('error', reject);
    stream.pipe(x as unknown as NodeJS.WritableStream);
  });
}

/** The entries of a gzip tar: path → { type, uid, gid, mode, body (files under 64 KiB) }. */
export async function listTar(file: string): Promise<Map<string, { type: string; uid: number; gid: number; mode: number; body: string }>> {
  const out = new Map<string, { type: string; uid: number; gid: number; mode: number; body: string }>();
  await tar.t({
    file,
    onReadEntry: (e) => {
      const chunks: Buffer[] = [];
      e.on('data', (d: Buffer) => chunks.push(d));
      e.on('end', () => {
        out.set(e.path.replace(/\/$/, ''), {
          type: e.type,
          uid: e.uid ?? -1,
          gid: e.gid ?? -1,
          mode: e.mode ?? 0,
          body: e.size !== undefined && e.size < 65536 ? Buffer.concat(chunks).toString() : '',
        });
      });
    },
  });
  return out;
}

/** Top-level names of a fixture app, for a quick sanity check. */
export function fixtureFiles(name: string): string[] {
  return readdirSync(join(FIXTURE_APPS, name));
}
