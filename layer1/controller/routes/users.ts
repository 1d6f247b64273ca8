// /v1/users: the admin lists and creates users. A new user reaches nothing until granted
// access to apps (routes/access.ts) and given a token (routes/tokens.ts).
import { route, type AnyRoute } from '../http/route.ts';
import { CreateUserBody, Page, User, listOf } from '../types.ts';
import type { RouteDeps } from './deps.ts';

export function userRoutes({ store }: RouteDeps): AnyRoute[] {
  return [
    route({
      method: 'get', path: '/users', tag: 'users', summary: 'List users, by name (admin)',
      access: { kind: 'user', role: 'admin' }, query: Page, response: listOf(User),
      handler: ({ query }) => store.users.list(query.limit, query.after),
    }),
    route({
      method: 'post', path: '/users', tag: 'users', summary: 'Create a user (admin)',
      access: { kind: 'user', role: 'admin' }, body: CreateUserBody, response: User, status: 201, errors: ['conflict'],
      handler: ({ body }) => store.users.create(body.name, body.admin),
    }),
  ];
}
