// The blob server's token for the composition root: `$SLIPWAY_HOME/blob-token` (0600), made on
// first start. Agents never see it (they hold the read token derived from it: signing.ts); the
// builder and controller do.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export async function loadOrCreateBlobToken(home: string): Promise<string> {
  const path = join(home, 'blob-token');
  const existing = await readFile(path, 'utf8').catch(() => '');
  if (existing.trim()) return existing.trim();
  await mkdir(dirname(path), { recursive: true });
  const token = `slwb_${randomBytes(32).toString('base64url')}`;
  try {
    await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return token;
  } catch (err) {
    // Another process made it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(path, 'utf8')).trim();
    throw err;
  }
}
