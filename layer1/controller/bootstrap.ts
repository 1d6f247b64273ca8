// The first start: make the `admin` user and an admin token, and write the token to
// `$SLIPWAY_HOME/admin-token` (0600). Later starts leave both alone (the token is not kept
// anywhere else, so it is returned only when just made).
import { mkdir, rename, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayError } from '../../layer0/common/errors.ts';
import type { Logger } from '../../layer0/common/logger.ts';
import type { Store } from './store/index.ts';

export const ADMIN_USER = 'admin';
export const ADMIN_TOKEN_FILE = 'admin-token';

export async function ensureAdmin(store: Store, home: string, log: Logger): Promise<{ path: string; token?: string }> {
  const path = join(home, ADMIN_TOKEN_FILE);
  let user = await store.users.byName(ADMIN_USER);
  if (!user) {
    try {
      user = await store.users.create(ADMIN_USER, true);
    } catch (err) {
      if (err instanceof SlipwayError && err.code === 'conflict') return { path }; // another controller made it
      throw err;
    }
  }
  // An admin without any token (a crash between the two steps) gets one; otherwise nothing to do.
  if ((await store.redis.scard(store.keys.userTokens(user.id))) > 0) return { path };
  const { secret } = await store.tokens.create({ userId: user.id, role: 'admin', appId: null, description: 'admin token (first start)' });
  await mkdir(home, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${secret}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  log.info({ path }, 'created the admin user and token; the token is in this file');
  return { path, token: secret };
}
