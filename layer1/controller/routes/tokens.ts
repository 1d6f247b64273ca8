// /v1/tokens: list, create and revoke API tokens. A caller never makes a token stronger or
// wider than its own (role, app scope); only admins make tokens for other users. The secret
// is in the creation response only.
import { SlipwayError } from '../../../layer0/common/errors.ts';
import { appRole, atLeast, globalRole, type Principal } from '../auth/roles.ts';
import { route, type AnyRoute } from '../http/route.ts';
import type { Store, TokenRecord } from '../store/index.ts';
import { CreateTokenBody, CreatedToken, Page, Token, listOf } from '../types.ts';
import type { RouteDeps } from './deps.ts';
import { z } from 'zod';

const TokenParams = z.strictObject({ id: z.string().regex(/^tok_[a-z0-9]{17}$/, 'is not a token id') });

export function tokenRoutes({ store }: RouteDeps): AnyRoute[] {
  return [
    route({
      method: 'get', path: '/tokens', tag: 'tokens', summary: "List the caller's tokens (an admin sees everyone's); never their secrets",
      access: { kind: 'user', role: 'view' }, query: Page, response: listOf(Token),
      async handler({ principal: p, query }) {
        const pg = await store.tokens.list(globalRole(p) === 'admin' ? null : p.userId, query.limit, query.after);
        return { items: await describe(store, pg.items), next: pg.next };
      },
    }),
    route({
      method: 'post', path: '/tokens', tag: 'tokens', summary: 'Create a token; its secret is shown in this response only',
      access: { kind: 'user', role: 'view' }, body: CreateTokenBody, response: CreatedToken, status: 201, errors: ['not_found', 'app_not_found'],
      async handler({ principal: p, body }) {
        const admin = globalRole(p) === 'admin';
        const self = body.user === undefined || body.user === p.userName;
        if (!self && !admin) throw new SlipwayError('forbidden', 'only admins make tokens for other users');
        const user = self ? await store.users.get(p.userId) : await store.users.byName(body.user as string);
        if (!user) throw new SlipwayError('not_found', `no user named ${body.user}`);
        if (body.role === 'admin' && !user.admin) throw new SlipwayError('invalid_params', 'body.role: only admin users hold admin tokens');
        if (!atLeast(globalRole(p), body.role)) throw new SlipwayError('forbidden', `a ${globalRole(p)} token cannot make a ${body.role} token`);
        let appId: string | null = null;
        if (body.app !== undefined) {
          const found = await store.apps.resolve(body.app, p.userId);
          const role = found && appRole(p, found.app.id, found.grant);
          if (!found || !role) throw new SlipwayError('app_not_found', `no app named ${body.app}`);
          if (!atLeast(role, body.role)) throw new SlipwayError('forbidden', `your role on ${body.app} is ${role}; it cannot make a ${body.role} token`);
          appId = found.app.id;
        }
        if (p.tokenAppId !== null && appId !== p.tokenAppId) throw new SlipwayError('forbidden', 'this token is limited to one app: new tokens must name that app');
        const { secret, record } = await store.tokens.create({ userId: user.id, role: body.role, appId, description: body.description });
        const [shown] = await describe(store, [record]);
        return { ...shown, token: secret };
      },
    }),
    route({
      method: 'delete', path: '/tokens/:id', tag: 'tokens', summary: 'Revoke a token, effective at once',
      access: { kind: 'user', role: 'view' }, params: TokenParams, response: null, status: 204, errors: ['not_found'],
      async handler({ principal: p, params }) {
        const t = await store.tokens.get(params.id);
        if (!t || (t.userId !== p.userId && globalRole(p) !== 'admin')) throw new SlipwayError('not_found', `no token ${params.id}`);
        checkReach(p, t);
        await store.tokens.revoke(t.id);
      },
    }),
  ];
}

/** A token may revoke only tokens no stronger and no wider than itself (its own included). */
function checkReach(p: Principal, t: TokenRecord): void {
  if (t.id === p.tokenId) return;
  if (!atLeast(globalRole(p), t.role)) throw new SlipwayError('forbidden', `a ${globalRole(p)} token cannot revoke a ${t.role} token`);
  if (p.tokenAppId !== null && t.appId !== p.tokenAppId) throw new SlipwayError('forbidden', 'this token is limited to one app: it can revoke only tokens of that app');
}

/** Records as the wire type: user and app by name. */
export async function describe(store: Store, records: TokenRecord[]): Promise<z.input<typeof Token>[]> {
  const users = await store.users.names([...new Set(records.map((r) => r.userId))]);
  const appIds = [...new Set(records.map((r) => r.appId).filter(Boolean))];
  const apps = new Map((await Promise.all(appIds.map((id) => store.apps.get(id)))).filter((a) => a !== null).map((a) => [a.id, a.name]));
  return records.map((r) => ({
    id: r.id,
    user: users.get(r.userId) ?? r.userId,
    role: r.role,
    app: r.appId ? (apps.get(r.appId) ?? null) : null,
    description: r.description,
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt ? new Date(Number(r.lastUsedAt)).toISOString() : null,
  }));
}
