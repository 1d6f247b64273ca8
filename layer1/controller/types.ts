// The controller's wire types: zod schemas beside their inferred types. The same schemas
// validate requests, type the handlers and generate /v1/openapi.json (http/openapi.ts).
import { z } from 'zod';

/** Named schemas: they become `#/components/schemas/<id>` in the OpenAPI document. */
export const components = z.registry<{ id: string; description?: string }>();

function named<T extends z.ZodType>(id: string, schema: T, description?: string): T {
  components.add(schema, description ? { id, description } : { id });
  return schema;
}

export const APP_NAME_RE = /^[a-z][a-z0-9-]{2,29}$/;
export const USER_NAME_RE = /^[a-z0-9][a-z0-9._@+-]{1,63}$/;

export const AppName = named('AppName', z.string().regex(APP_NAME_RE, 'must be 3-30 characters: a lowercase letter, then lowercase letters, digits or "-"'));
export const UserName = named('UserName', z.string().regex(USER_NAME_RE, 'must be 2-64 characters: lowercase letters, digits and . _ @ + - (not first)'));

/** Roles on an app, weakest first. `admin` is the platform-wide role of admin users' tokens. */
export const APP_ROLES = ['view', 'deploy', 'owner'] as const;
export const AppRole = named('AppRole', z.enum(APP_ROLES), 'view reads; deploy also deploys, sets config, scales, restarts, rolls back, runs; owner also manages access, domains and destroys');
export type AppRole = z.infer<typeof AppRole>;
export const TOKEN_ROLES = ['view', 'deploy', 'owner', 'admin'] as const;
export const TokenRole = named('TokenRole', z.enum(TOKEN_ROLES), 'an app role, or admin (admin users only): everything, including users');
export type TokenRole = z.infer<typeof TokenRole>;

const Time = z.string().describe('RFC 3339 time');

export const App = named(
  'App',
  z.object({ id: z.string(), name: AppName, createdAt: Time, updatedAt: Time, createdBy: UserName }),
);
export type App = z.infer<typeof App>;

export const User = named('User', z.object({ id: z.string(), name: UserName, admin: z.boolean(), createdAt: Time }));
export type User = z.infer<typeof User>;

export const Token = named(
  'Token',
  z.object({
    id: z.string(),
    user: UserName,
    role: TokenRole,
    app: AppName.nullable().describe('the one app this token reaches, or null for every app its user may reach'),
    description: z.string(),
    createdAt: Time,
    lastUsedAt: Time.nullable().describe('accurate to a minute'),
  }),
);
export type Token = z.infer<typeof Token>;

export const CreatedToken = named(
  'CreatedToken',
  Token.extend({ token: z.string().describe('the secret, shown only in this response') }),
);

export const Access = named('Access', z.object({ app: AppName, user: UserName, role: AppRole }));
export type Access = z.infer<typeof Access>;

export const AuditEntry = named(
  'AuditEntry',
  z.object({
    id: z.string().describe('stream id, usable as a cursor'),
    at: Time,
    user: z.string(),
    tokenId: z.string(),
    method: z.string(),
    route: z.string().describe('the route template, e.g. /v1/apps/:app'),
    path: z.string(),
    app: z.string().nullable(),
    status: z.number().int(),
    requestId: z.string(),
    event: z.enum(['call', 'auth_failed', 'git_push']).describe('call: a mutating API call (POST /v1/login: a dashboard login); auth_failed: a token refused (API, dashboard, git); git_push: a git push'),
  }),
);
export type AuditEntry = z.infer<typeof AuditEntry>;
export type AuditEvent = AuditEntry['event'];

export const WhoAmI = named(
  'WhoAmI',
  z.object({ user: User, token: Token.omit({ lastUsedAt: true }) }),
);

export const Health = z.object({ status: z.string() });

/** `{ items, next }`: pass `next` as `?after=` for the following page; null at the end. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next: z.string().nullable() });
}

export const Page = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100).describe('page size (1-500, default 100)'),
  after: z.string().max(200).optional().describe('the `next` cursor of the previous page'),
});
export type Page = z.infer<typeof Page>;

export const ErrorBody = named(
  'Error',
  z.object({ error: z.object({ code: z.string(), message: z.string() }) }),
);

// Request bodies (strict: unknown fields are refused).
export const CreateAppBody = z.strictObject({ name: AppName.optional().describe('random and readable when absent') });
export const PatchAppBody = z.strictObject({ name: AppName.optional().describe('a new name: renames the app') });
export const CreateUserBody = z.strictObject({ name: UserName, admin: z.boolean().default(false) });
export const CreateTokenBody = z.strictObject({
  role: TokenRole.default('view'),
  app: AppName.optional().describe('limit the token to this app'),
  user: UserName.optional().describe('admins may make tokens for other users'),
  description: z.string().max(200).default(''),
});
export const PutAccessBody = z.strictObject({ role: AppRole });
