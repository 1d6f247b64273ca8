// The OpenAPI 3.1 document of /v1, generated from the route table and its zod schemas
// (JSON Schema 2020-12, which OpenAPI 3.1 uses as is). Each operation lists the error codes
// it can answer, by status; the Error schema enumerates every one of them.
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode } from '../../../layer0/common/errors.ts';
import { statusOf } from '../middleware/errors.ts';
import { components } from '../types.ts';
import { openApiPath, type AnyRoute } from './route.ts';

type Json = Record<string, unknown>;
const REF = '#/components/schemas/';

/** The error codes a route can answer, from its access rule, its inputs and its own list. */
export function errorCodes(r: AnyRoute): ErrorCode[] {
  const codes = new Set<ErrorCode>(['invalid_json', 'payload_too_large', 'invalid_params']);
  if (r.access.kind !== 'public') codes.add('unauthorized');
  if (r.access.kind === 'user' && (r.access.role !== 'view' || r.access.unscoped)) codes.add('forbidden');
  if (r.access.kind === 'app') {
    codes.add('app_not_found');
    if (r.access.role !== 'view') codes.add('forbidden');
  }
  for (const c of r.errors ?? []) codes.add(c);
  codes.add('internal_error');
  return [...codes];
}

export function openApiDocument(routes: AnyRoute[], info: { version: string } = { version: '1' }): Json {
  const schemas: Record<string, Json> = {};
  const convert = (s: z.ZodType, io: 'input' | 'output'): Json => {
    const raw = z.toJSONSchema(s, { metadata: components, io, unrepresentable: 'any' }) as Json;
    const defs = (raw.$defs ?? {}) as Record<string, Json>;
    for (const [id, d] of Object.entries(defs)) schemas[id] ??= clean(d);
    return clean(raw);
  };
  for (const [id, s] of Object.entries((z.toJSONSchema(components, { unrepresentable: 'any', uri: (id) => REF + id }) as { schemas: Record<string, Json> }).schemas)) {
    schemas[id] = clean(s);
  }

  const paths: Record<string, Record<string, Json>> = {};
  const allCodes = new Set<ErrorCode>();
  for (const r of routes) {
    const op: Json = {
      operationId: `${r.method}${r.path.replace(/\/:?([a-z.]+)/gi, (_, w: string) => w[0].toUpperCase() + w.slice(1).replace(/\W/g, ''))}`,
      summary: r.summary,
      tags: [r.tag],
      security: r.access.kind === 'public' ? [] : [{ bearer: [] }],
      'x-slipway-access': r.access,
    };
    const parameters = [...params('path', r.params, convert), ...params('query', r.query, convert)];
    if (parameters.length) op.parameters = parameters;
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: convert(r.body, 'input') } } };
    const status: number = r.status ?? 200; // 101 for a WebSocket route (routes/run-attach.ts)
    const responses: Record<string, Json> = {
      [status]: r.response
        ? { description: r.summary, content: { [r.contentType ?? 'application/json']: { schema: convert(r.response, 'output') } } }
        : { description: status === 101 ? 'Switching Protocols: the WebSocket session (see the summary)' : 'done; no content' },
    };
    // `?wait=true` turns a 202 into a 200 once the rollout has finished (routes/deployments.ts).
    const waits = r.query instanceof z.ZodObject && 'wait' in r.query.shape;
    if (waits && status === 202 && r.response) {
      responses[200] = { description: `${r.summary}: with ?wait=true, the rollout's final state`, content: { 'application/json': { schema: convert(r.response, 'output') } } };
    }
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of errorCodes(r)) {
      allCodes.add(code);
      const st = statusOf(code, ERROR_STATUS[code]);
      byStatus.set(st, [...(byStatus.get(st) ?? []), code]);
    }
    for (const [st, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
      responses[st] = { description: `error: ${codes.join(', ')}`, 'x-error-codes': codes, content: { 'application/json': { schema: { $ref: `${REF}Error` } } } };
    }
    op.responses = responses;
    (paths[`/v1${openApiPath(r.path)}`] ??= {})[r.method] = op;
  }

  // A known path with a method it does not have: 405 with `Allow` (app.ts), on any path.
  allCodes.add('method_not_allowed');
  const err = schemas.Error as { properties: { error: { properties: { code: Json } } } };
  err.properties.error.properties.code = { type: 'string', enum: [...allCodes].sort() };
  return {
    openapi: '3.1.0',
    info: { title: 'Slipway controller API', version: info.version, description: 'Errors are `{ "error": { "code", "message" } }`; lists are `{ "items", "next" }` with `?limit=&after=`. Any path answers a method it does not have with 405 `method_not_allowed` and an `Allow` header.' },
    'x-path-error-codes': ['method_not_allowed'],
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    security: [{ bearer: [] }],
    paths,
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token: `slw_…`' } } },
  };
}

function params(where: 'path' | 'query', s: z.ZodType | undefined, convert: (s: z.ZodType, io: 'input') => Json): Json[] {
  if (!s) return [];
  const js = convert(s, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, schema]) => {
    const { description, ...rest } = schema as Json;
    return { name, in: where, required: where === 'path' || (js.required ?? []).includes(name), ...(description ? { description } : {}), schema: rest };
  });
}

/** Drops the per-schema `$schema`/`$id`/`$defs` and points `#/$defs/X` refs at the components. */
function clean(v: Json): Json {
  const walk = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(walk);
    if (!x || typeof x !== 'object') return x;
    const out: Json = {};
    for (const [k, val] of Object.entries(x)) {
      if (k === '$schema' || k === '$id' || k === '$defs') continue;
      out[k] = k === '$ref' && typeof val === 'string' ? val.replace(/^#\/\$defs\//, REF) : walk(val);
    }
    return out;
  };
  return walk(v) as Json;
}
