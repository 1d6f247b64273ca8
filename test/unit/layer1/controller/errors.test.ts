// The error edge's mapping: SlipwayErrors keep their code (invalid_params at 422), Koa's and
// Node's client errors get codes, anything else is a 500 that hides its text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlipwayError } from '../../../../layer0/common/errors.ts';
import { normalize, statusOf } from '../../../../layer1/controller/middleware/errors.ts';

test('normalize and statusOf', () => {
  const s = new SlipwayError('conflict', 'taken');
  assert.equal(normalize(s), s);
  assert.equal(statusOf('invalid_params', 400), 422);
  assert.equal(statusOf('conflict', 409), 409);
  const uri = normalize(new URIError('URI malformed'));
  assert.equal(uri.code, 'invalid_params');
  const koa = normalize(Object.assign(new Error('Method Not Allowed'), { status: 405, expose: true }));
  assert.equal(koa.code, 'method_not_allowed');
  const hidden = normalize(Object.assign(new Error('secret detail'), { status: 400, expose: false }));
  assert.equal(hidden.message, 'bad request');
  const boom = normalize(new TypeError('x is undefined'));
  assert.equal(boom.code, 'internal_error');
  assert.equal(boom.message, 'internal error');
  assert.equal(boom.expose, false);
});
