// A route of the /v1 table: method, path, the zod schemas of its input and output, the role
// it needs and its handler. The Koa router (app.ts) and the OpenAPI document (openapi.ts)
// are both built from the same list, so they cannot drift.
import type { ParameterizedContext } from 'koa';
import type { z } from 'zod';
import type { ErrorCode } from '../../../layer0/common/errors.ts';
import type { Principal, Role } from '../auth/roles.ts';
import type { App, AppRole } from '../types.ts';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * Who may call a route: anyone (`public`); any valid token whose platform-wide role is at
 * least `role` (`user`; `unscoped` also refuses app-limited tokens); or a caller whose role
 * on the `:app` of the path is at least `role` (`app`: invisible apps answer 404).
 */
export type Access =
  | { kind: 'public' }
  | { kind: 'user'; role: Role; unscoped?: boolean }
  | { kind: 'app'; role: Role };

export interface ControllerState {
  requestId: string;
  principal?: Principal;
  /** Set by `authorize` on `app` routes. */
  app?: App;
  /** The caller's effective role on `app`. */
  appRole?: Role;
  grant?: AppRole | null;
  /** The parsed JSON body (undefined when none was sent). */
  json?: unknown;
  input?: { params: unknown; query: unknown; body: unknown };
  /** A handler's answer to its route's `status` (e.g. 200 after `?wait=true` instead of 202). */
  status?: number;
}

export type Ctx = ParameterizedContext<ControllerState>;

interface Input<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  ctx: Ctx;
}

type Out<R> = R extends z.ZodType ? z.input<R> : void;
type In<S> = S extends z.ZodType ? z.output<S> : undefined;

interface Base<P, Q, B, R> {
  method: Method;
  /** Relative to /v1, with `:name` parameters. */
  path: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Null for an empty response (204). */
  response: R;
  status?: 200 | 201 | 202 | 204;
  /** The success body's media type in the OpenAPI document (default application/json): streams say theirs. */
  contentType?: 'application/json' | 'text/event-stream' | 'application/x-ndjson';
  /** Codes the handler itself may throw (the ones of auth and validation are added by openapi.ts). */
  errors?: ErrorCode[];
  /** Recorded in the audit log; default: every method but GET. */
  audit?: boolean;
}

export interface RouteDef<P = unknown, Q = unknown, B = unknown, R = unknown> extends Base<P, Q, B, R> {
  access: Access;
  handler(input: Input<In<P>, In<Q>, In<B>> & { app: App | undefined }): Promise<Out<R>>;
}

export type AnyRoute = RouteDef<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined, z.ZodType | null>;

/** A route outside any app (`user` or `public` access). */
export function route<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined, R extends z.ZodType | null = null>(
  def: Base<P, Q, B, R> & { access: Exclude<Access, { kind: 'app' }>; handler(input: Input<In<P>, In<Q>, In<B>>): Promise<Out<R>> },
): AnyRoute {
  return def as unknown as AnyRoute;
}

/** A route under `/apps/:app`: the handler gets the resolved app, already access-checked. */
export function appRoute<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined, R extends z.ZodType | null = null>(
  def: Base<P, Q, B, R> & { role: Role; handler(input: Input<In<P>, In<Q>, In<B>> & { app: App; role: Role }): Promise<Out<R>> },
): AnyRoute {
  const { role, handler, ...rest } = def;
  return {
    ...rest,
    access: { kind: 'app', role },
    handler: (input: Input<unknown, unknown, unknown> & { app: App | undefined }) =>
      handler({ ...input, app: input.app as App, role: input.ctx.state.appRole as Role } as never),
  } as unknown as AnyRoute;
}

/** `/apps/:app/access/:user` → `/apps/{app}/access/{user}` (OpenAPI's path template). */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]+)/g, '{$1}');
}
