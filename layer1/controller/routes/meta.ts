// /v1/whoami (the caller's user and token), /v1/login (the same, as a POST the audit log
// records: the dashboard's login) and /v1/openapi.json (public: the document generated from the
// route table).
import { z } from 'zod';
import { SlipwayError } from '../../../layer0/common/errors.ts';
import type { Principal } from '../auth/roles.ts';
import { route, type AnyRoute } from '../http/route.ts';
import { WhoAmI } from '../types.ts';
import type { RouteDeps } from './deps.ts';
import { describe } from './tokens.ts';

export function metaRoutes({ store }: RouteDeps, document: () => object): AnyRoute[] {
  async function whoami(p: Principal) {
    const [user, token] = await Promise.all([store.users.get(p.userId), store.tokens.get(p.tokenId)]);
    if (!user || !token) throw new SlipwayError('unauthorized', 'the token was revoked meanwhile');
    const [{ lastUsedAt: _, ...shown }] = await describe(store, [token]);
    return { user, token: shown };
  }
  return [
    route({
      method: 'get', path: '/whoami', tag: 'meta', summary: "The caller's user and token",
      access: { kind: 'user', role: 'view' }, response: WhoAmI,
      handler: ({ principal }) => whoami(principal),
    }),
    route({
      method: 'post', path: '/login', tag: 'meta', summary: "Log in with a token (the dashboard does): the caller's user and token, and a login in the audit log",
      access: { kind: 'user', role: 'view' }, response: WhoAmI,
      handler: ({ principal }) => whoami(principal),
    }),
    route({
      method: 'get', path: '/openapi.json', tag: 'meta', summary: 'This document (OpenAPI 3.1)',
      access: { kind: 'public' }, response: z.record(z.string(), z.unknown()),
      handler: async () => document() as Record<string, unknown>,
    }),
  ];
}
