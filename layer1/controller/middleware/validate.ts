// Checks path parameters, query and body against the route's zod schemas (strict: unknown
// fields are refused). A failure is 422 `invalid_params` naming each bad field.
import type { Middleware } from 'koa';
import type { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { AnyRoute, ControllerState } from '../http/route.ts';

export function validate(route: AnyRoute): Middleware<ControllerState> {
  return async (ctx, next) => {
    const params = parse('path', route.params, (ctx as unknown as { params: unknown }).params ?? {});
    const query = parse('query', route.query, { ...ctx.query });
    let body: unknown;
    if (route.body) body = parse('body', route.body, ctx.state.json === undefined ? {} : ctx.state.json);
    else if (ctx.state.json !== undefined) throw new SlipwayError('invalid_params', `${ctx.method} ${route.path} takes no body`);
    ctx.state.input = { params, query, body };
    await next();
  };
}

function parse(where: string, schema: z.ZodType | undefined, value: unknown): unknown {
  if (!schema) {
    const extra = value && typeof value === 'object' ? Object.keys(value) : [];
    if (extra.length) throw new SlipwayError('invalid_params', `${where}: unknown parameter ${JSON.stringify(extra[0])}`);
    return undefined;
  }
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new SlipwayError('invalid_params', r.error.issues.map((i) => describe(where, i, value)).join('; '), { details: r.error.issues });
}

function describe(where: string, issue: z.core.$ZodIssue, input: unknown): string {
  const at = [where, ...issue.path.map(String)].join('.');
  if (issue.code === 'unrecognized_keys') return `${at}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  if (issue.path.length > 0 && missing(input, issue.path)) return `${at}: is required`;
  return `${at}: ${issue.message}`;
}

function missing(input: unknown, path: PropertyKey[]): boolean {
  let v = input;
  for (const k of path.slice(0, -1)) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return !!v && typeof v === 'object' && !Object.hasOwn(v, path[path.length - 1]);
}
