// The controller's Redis data model in one object, so routes take `store` as a dependency.
import type { Redis } from 'ioredis';
import { Keys, DEFAULT_PREFIX } from './keys.ts';
import { AppStore } from './apps.ts';
import { UserStore } from './users.ts';
import { TokenStore } from './tokens.ts';
import { AccessStore } from './access.ts';
import { AuditStore } from './audit.ts';

export class Store {
  readonly keys: Keys;
  readonly apps: AppStore;
  readonly users: UserStore;
  readonly tokens: TokenStore;
  readonly access: AccessStore;
  readonly audit: AuditStore;

  constructor(readonly redis: Redis, prefix: string = DEFAULT_PREFIX) {
    this.keys = new Keys(prefix);
    this.apps = new AppStore(redis, this.keys);
    this.users = new UserStore(redis, this.keys);
    this.tokens = new TokenStore(redis, this.keys);
    this.access = new AccessStore(redis, this.keys);
    this.audit = new AuditStore(redis, this.keys);
  }
}

export { Keys, DEFAULT_PREFIX };
export type { TokenRecord } from './tokens.ts';
