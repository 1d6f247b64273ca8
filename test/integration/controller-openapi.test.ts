// /v1/openapi.json: public, generated from the route table, covering exactly the Koa router's
// routes; every $ref resolves, every path parameter is declared, every schema is well-formed
// JSON Schema, and every error code the controller's request path can throw is in it.
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startTestController, type TestController } from '../helpers/controller.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';
import { openApiPath } from '../../layer1/controller/http/route.ts';
import { createSchedulerClient } from '../../layer0/scheduler/client.ts';
import { createDeploy, type Deploy } from '../../layer1/controller/deploy/index.ts';

let c: TestController;
let redis: TestRedis;
let scheduler: ReturnType<typeof createSchedulerClient>;
let deploy: Deploy;
let doc: any;

before(async () => {
  // With the deploy core (not started: nothing runs), so the document has every route.
  redis = await startTestRedis();
  scheduler = createSchedulerClient({ redisUrl: redis.url, keyPrefix: redis.prefix('l0') });
  const keyPrefix = redis.prefix('ctl');
  deploy = createDeploy({ redis: redis.url, keyPrefix, scheduler });
  c = await startTestController({ redis, keyPrefix, deploy: { deploy, scheduler } });
  const res = await c.request('GET', '/v1/openapi.json');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] as string, /application\/json/);
  doc = res.body;
});
after(async () => {
  await c?.close();
  await deploy?.close();
  scheduler?.close();
  await redis?.cleanup();
});

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

test('is OpenAPI 3.1, public, and the same document the app built', () => {
  assert.equal(doc.openapi, '3.1.0');
  assert.ok(doc.info.title && doc.info.version);
  assert.deepEqual(doc, JSON.parse(JSON.stringify(c.controller.app.openapi)));
});

test('covers exactly the route table and the Koa router', () => {
  const inDoc = new Set<string>();
  for (const [p, ops] of Object.entries<Record<string, unknown>>(doc.paths)) for (const m of Object.keys(ops)) inDoc.add(`${m} ${p}`);
  const inTable = new Set(c.controller.app.routes.map((r) => `${r.method} /v1${openApiPath(r.path)}`));
  const inRouter = new Set<string>();
  for (const layer of c.controller.app.router.stack) {
    for (const m of layer.methods) if (m !== 'HEAD') inRouter.add(`${m.toLowerCase()} ${openApiPath(String(layer.path))}`);
  }
  assert.deepEqual([...inDoc].sort(), [...inTable].sort());
  assert.deepEqual([...inRouter].sort(), [...inTable].sort());
  assert.equal(inTable.size, c.controller.app.routes.length, 'no route registered twice');
  for (const want of ['get /v1/apps', 'post /v1/apps', 'get /v1/apps/{app}', 'patch /v1/apps/{app}', 'delete /v1/apps/{app}', 'get /v1/users', 'post /v1/users', 'get /v1/tokens', 'post /v1/tokens', 'delete /v1/tokens/{id}', 'get /v1/audit', 'get /v1/apps/{app}/access/{user}', 'put /v1/apps/{app}/access/{user}', 'delete /v1/apps/{app}/access/{user}', 'get /v1/openapi.json',
    'get /v1/apps/{app}/config', 'patch /v1/apps/{app}/config', 'get /v1/apps/{app}/formation', 'patch /v1/apps/{app}/formation', 'get /v1/apps/{app}/releases', 'post /v1/apps/{app}/releases',
    'get /v1/apps/{app}/releases/{version}', 'post /v1/apps/{app}/rollback', 'get /v1/apps/{app}/builds', 'get /v1/apps/{app}/builds/{id}', 'get /v1/apps/{app}/processes',
    'post /v1/apps/{app}/processes/restart', 'delete /v1/apps/{app}/processes/{id}', 'get /v1/apps/{app}/deployments', 'get /v1/apps/{app}/deployments/{id}',
    'get /v1/apps/{app}/domains', 'post /v1/apps/{app}/domains', 'delete /v1/apps/{app}/domains/{domain}', 'get /v1/apps/{app}/events', 'get /v1/events']) {
    assert.ok(inDoc.has(want), want);
  }
});

test('every operation: unique id, declared path parameters, a success and its error responses', () => {
  const ids = new Set<string>();
  for (const [p, ops] of Object.entries<Record<string, any>>(doc.paths)) {
    const templated = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    for (const [m, op] of Object.entries<any>(ops)) {
      assert.ok(METHODS.includes(m), m);
      assert.ok(op.operationId && !ids.has(op.operationId), `${m} ${p}: operationId ${op.operationId}`);
      ids.add(op.operationId);
      const declared = (op.parameters ?? []).filter((x: any) => x.in === 'path').map((x: any) => x.name).sort();
      assert.deepEqual(declared, templated, `${m} ${p}: path parameters`);
      for (const prm of op.parameters ?? []) assert.ok(['path', 'query'].includes(prm.in) && prm.schema, `${m} ${p} ${prm.name}`);
      const statuses = Object.keys(op.responses);
      // 101: a WebSocket route (the interactive run) succeeds by switching protocols.
      assert.ok(statuses.some((s) => /^(2\d\d|101)$/.test(s)), `${m} ${p}: a success response`);
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      assert.equal(statuses.includes('401'), !isPublic, `${m} ${p}: 401 unless public`);
      for (const s of ['400', '413', '422', '500']) assert.ok(statuses.includes(s), `${m} ${p}: ${s}`);
      for (const [s, r] of Object.entries<any>(op.responses)) {
        assert.ok(r.description, `${m} ${p} ${s}: description`);
        if (Number(s) >= 400) {
          assert.ok(r['x-error-codes'].length > 0);
          assert.equal(r.content['application/json'].schema.$ref, '#/components/schemas/Error');
        }
      }
      if (['post', 'put', 'patch'].includes(m) && op.requestBody) {
        // Strict: an object refuses unknown fields; a map (config, formation) constrains its names.
        let body = op.requestBody.content['application/json'].schema;
        if (body.$ref) body = doc.components.schemas[body.$ref.replace('#/components/schemas/', '')];
        assert.ok(body.additionalProperties === false || (body.propertyNames?.pattern && typeof body.additionalProperties === 'object'), `${m} ${p}: strict body`);
      }
    }
  }
});

test('every $ref resolves and every schema is well-formed JSON Schema', () => {
  const KEYWORDS = new Set(['type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'default', 'description', 'anyOf', 'oneOf', 'allOf', 'not', 'format', '$ref', 'propertyNames', 'minItems', 'maxItems', 'title', 'examples', 'readOnly', 'writeOnly', 'deprecated', 'nullable']);
  const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);
  let refs = 0;
  let schemas = 0;
  const resolve = (ref: string) => ref.replace(/^#\//, '').split('/').reduce((o: any, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  const checkSchema = (s: any, where: string): void => {
    assert.ok(s && typeof s === 'object' && !Array.isArray(s), `${where}: a schema object`);
    schemas++;
    for (const k of Object.keys(s)) assert.ok(KEYWORDS.has(k), `${where}: unknown keyword ${k}`);
    if (s.$ref) {
      refs++;
      assert.ok(resolve(s.$ref), `${where}: ${s.$ref} does not resolve`);
    }
    for (const t of [s.type ?? []].flat()) assert.ok(TYPES.has(t), `${where}: type ${t}`);
    if (s.required) for (const r of s.required) assert.ok(s.properties && r in s.properties, `${where}: required ${r} not a property`);
    if (s.pattern) new RegExp(s.pattern, 'u');
    for (const [k, v] of Object.entries<any>(s.properties ?? {})) checkSchema(v, `${where}.${k}`);
    if (s.items) checkSchema(s.items, `${where}[]`);
    if (s.additionalProperties && typeof s.additionalProperties === 'object') checkSchema(s.additionalProperties, `${where}{}`);
    for (const k of ['anyOf', 'oneOf', 'allOf']) for (const [i, x] of (s[k] ?? []).entries()) checkSchema(x, `${where}.${k}[${i}]`);
  };
  for (const [id, s] of Object.entries(doc.components.schemas)) checkSchema(s, `#/components/schemas/${id}`);
  for (const [p, ops] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [m, op] of Object.entries<any>(ops)) {
      for (const prm of op.parameters ?? []) checkSchema(prm.schema, `${m} ${p} ${prm.name}`);
      if (op.requestBody) checkSchema(op.requestBody.content['application/json'].schema, `${m} ${p} body`);
      for (const [s, r] of Object.entries<any>(op.responses)) {
        if (!r.content) continue;
        // One media type per response: JSON, or a stream's own (SSE, NDJSON).
        const types = Object.keys(r.content);
        assert.equal(types.length, 1, `${m} ${p} ${s}: ${types.join(', ')}`);
        assert.ok(['application/json', 'text/event-stream', 'application/x-ndjson'].includes(types[0]!), `${m} ${p} ${s}: ${types[0]}`);
        checkSchema(r.content[types[0]!].schema, `${m} ${p} ${s}`);
      }
    }
  }
  assert.ok(refs > 20 && schemas > 50, `${refs} refs, ${schemas} schemas`);
  assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.bearer.description });
});

test('every error code of the request path appears in the document', () => {
  const codes: Set<string> = new Set(doc.components.schemas.Error.properties.error.properties.code.enum);
  const listed = new Set<string>();
  for (const ops of Object.values<Record<string, any>>(doc.paths)) for (const op of Object.values<any>(ops)) for (const r of Object.values<any>(op.responses)) for (const x of r['x-error-codes'] ?? []) listed.add(x);
  for (const x of doc['x-path-error-codes']) listed.add(x);
  assert.deepEqual([...listed].sort(), [...codes].sort());
  // Every code thrown by the controller's request path (startup-only files aside: migrations, bootstrap).
  const root = join(import.meta.dirname, '../../layer1/controller');
  const thrown = new Set<string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const f = join(dir, name);
      if (statSync(f).isDirectory()) {
        if (name !== 'deploy') walk(f);
      } else if (f.endsWith('.ts') && !/(migrations|bootstrap)\.ts$/.test(f)) {
        for (const m of readFileSync(f, 'utf8').matchAll(/SlipwayError\('([a-z_]+)'/g)) thrown.add(m[1]);
      }
    }
  };
  walk(root);
  assert.ok(thrown.size >= 8, [...thrown].join());
  for (const code of thrown) assert.ok(codes.has(code), `${code} is thrown but not in the document`);
});

test('routes that take ?wait=true document both their 202 and the 200 after waiting', () => {
  for (const [path, method] of [['/v1/apps/{app}/config', 'patch'], ['/v1/apps/{app}/formation', 'patch']] as const) {
    const responses = doc.paths[path][method].responses;
    assert.ok(responses['202'] && responses['200'], `${method} ${path}: ${Object.keys(responses).join(',')}`);
  }
});

describe('OpenAPI media types of streams', () => {
  it('says text/event-stream for the event streams and application/x-ndjson for run', () => {
    assert.deepEqual(Object.keys(doc.paths['/v1/apps/{app}/events'].get.responses['200'].content), ['text/event-stream']);
    assert.deepEqual(Object.keys(doc.paths['/v1/events'].get.responses['200'].content), ['text/event-stream']);
    assert.deepEqual(Object.keys(doc.paths['/v1/apps/{app}/run'].post.responses['200'].content), ['application/x-ndjson']);
  });
});
