// Exec endpoints: create, start (hijacked like attach, body read from `head`: research trap 8;
// `Detach` answers 200 at once), inspect. The socket ends only once the exit code is known,
// because the CLI reads it from /exec/{id}/json right after the stream ends.
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import { SlipwayError } from '../../common/errors.ts';
import { readUpgradeBody, writeRawResponse, writeUpgrade } from '../hijack.ts';
import { COMMON_HEADERS, parseJson, readBody, sendJson } from '../http.ts';
import { MULTIPLEXED, OutputWriter, RAW_STREAM, type StreamName } from '../mux.ts';
import { intParam } from '../query.ts';
import type { Ctx, Route } from '../router.ts';
import type { AgentDeps } from './deps.ts';

const ExecCreateSchema = z.looseObject({
  AttachStdin: z.boolean().nullish(), AttachStdout: z.boolean().nullish(), AttachStderr: z.boolean().nullish(),
  Tty: z.boolean().nullish(), Env: z.array(z.string()).nullish(),
  Cmd: z.union([z.array(z.string()), z.string().transform((s) => [s])]).nullish(),
  User: z.string().nullish(), WorkingDir: z.string().nullish(), Privileged: z.boolean().nullish(), DetachKeys: z.string().nullish(),
});

const ExecStartSchema = z.looseObject({
  Detach: z.boolean().nullish(), Tty: z.boolean().nullish(),
  // API 1.42: [height, width] of a TTY exec's terminal from the start.
  ConsoleSize: z.tuple([z.number().int().min(0).max(0xffff), z.number().int().min(0).max(0xffff)]).nullish(),
});

interface Attach { stdout: boolean; stderr: boolean; stdin: boolean }

function pipeOut(src: Readable | NodeJS.ReadableStream | null, stream: StreamName, w: OutputWriter, enabled: boolean): Promise<void> {
  if (!src) return Promise.resolve();
  return new Promise((resolve) => {
    src.on('data', (chunk: Buffer) => {
      if (enabled && !w.write(stream, chunk)) {
        src.pause();
        void w.drain().then(() => src.resume());
      }
    });
    src.on('end', resolve);
    src.on('close', resolve);
    src.on('error', () => resolve());
  });
}

export function execRoutes(d: AgentDeps): Route[] {
  const { runtime } = d;
  /** What Docker keeps per exec but the runtime does not: which streams the client wanted. */
  const attachOf = new Map<string, Attach>();

  async function create({ req, res, params }: Ctx): Promise<void> {
    const body = ExecCreateSchema.parse(parseJson(await readBody(req)) ?? {});
    if (!body.Cmd || body.Cmd.length === 0) throw new SlipwayError('invalid_params', 'No exec command specified');
    const rec = runtime.createExec(params.id!, {
      cmd: body.Cmd, env: body.Env ?? undefined, user: body.User ?? undefined, workingDir: body.WorkingDir || undefined,
      tty: body.Tty ?? false, attachStdin: body.AttachStdin ?? false,
    });
    attachOf.set(rec.id, { stdout: body.AttachStdout ?? true, stderr: body.AttachStderr ?? true, stdin: body.AttachStdin ?? false });
    sendJson(res!, 201, { Id: rec.id });
  }

  async function start({ req, res, upgrade, params }: Ctx): Promise<void> {
    const id = params.id!;
    let rest: Buffer = Buffer.alloc(0);
    let raw: Buffer;
    if (upgrade) ({ body: raw, rest } = await readUpgradeBody(req, upgrade.socket, upgrade.head));
    else raw = await readBody(req, 1 << 20);
    const body = ExecStartSchema.parse(parseJson(raw) ?? {});
    const exec = runtime.getExec(id);
    const tty = exec.spec.tty ?? false;
    const att = attachOf.get(id) ?? { stdout: true, stderr: true, stdin: exec.spec.attachStdin ?? false };
    const size = body.ConsoleSize ? { rows: body.ConsoleSize[0], cols: body.ConsoleSize[1] } : undefined;
    const session = await runtime.startExec(id, size);
    void session.exit.finally(() => setTimeout(() => attachOf.delete(id), 60_000).unref()).catch(() => {});
    if (body.Detach) {
      session.stdout.resume();
      session.stderr?.resume();
      if (upgrade) writeRawResponse(upgrade.socket, 200, '', 'text/plain; charset=utf-8', COMMON_HEADERS);
      else {
        res!.writeHead(200, { 'Content-Length': 0 });
        res!.end();
      }
      return;
    }
    const contentType = tty ? RAW_STREAM : MULTIPLEXED;
    let out: Writable;
    if (upgrade) {
      const { socket } = upgrade;
      writeUpgrade(socket, contentType, COMMON_HEADERS);
      const stdin = att.stdin ? session.stdin : null;
      if (stdin) {
        if (rest.length) stdin.write(rest);
        socket.on('data', (c: Buffer) => stdin.write(c));
        socket.on('end', () => stdin.end());
        socket.resume();
      } else socket.resume();
      out = socket as Writable;
    } else {
      res!.writeHead(200, { 'Content-Type': contentType });
      res!.flushHeaders();
      session.stdin?.end();
      out = res!;
    }
    const w = new OutputWriter(out, tty);
    await Promise.all([pipeOut(session.stdout, 'stdout', w, att.stdout), pipeOut(session.stderr, 'stderr', w, att.stderr)]);
    await session.exit.catch(() => {});
    out.end();
  }

  function inspect({ res, params }: Ctx): void {
    const e = runtime.getExec(params.id!);
    const att = attachOf.get(e.id);
    sendJson(res!, 200, {
      ID: e.id, ContainerID: e.containerId, Running: e.running, ExitCode: e.exitCode, Pid: e.pid,
      OpenStdin: att?.stdin ?? e.spec.attachStdin ?? false, OpenStdout: att?.stdout ?? true, OpenStderr: att?.stderr ?? true,
      CanRemove: false, DetachKeys: '',
      ProcessConfig: { entrypoint: e.spec.cmd[0], arguments: e.spec.cmd.slice(1), tty: e.spec.tty ?? false, privileged: false, user: e.spec.user ?? '' },
    });
  }

  return [
    { method: 'POST', path: '/containers/{id}/exec', handler: create, body: true },
    { method: 'POST', path: '/exec/{id}/start', handler: start, upgrade: true, body: true },
    { method: 'GET', path: '/exec/{id}/json', handler: inspect },
    {
      // `?h=rows&w=cols`: sizes a running TTY exec's terminal (its process gets SIGWINCH).
      method: 'POST', path: '/exec/{id}/resize',
      handler: async ({ res, params, query }) => {
        const h = intParam(query, 'h', 0);
        const w = intParam(query, 'w', 0);
        if (h < 0 || w < 0 || h > 0xffff || w > 0xffff) throw new SlipwayError('invalid_params', `invalid terminal size ${h}x${w}`);
        runtime.getExec(params.id!);
        if (h > 0 && w > 0) await runtime.resizeExec(params.id!, h, w);
        sendJson(res!, 200, {});
      },
    },
  ];
}
