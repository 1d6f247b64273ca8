// An app's log lines on its owner's terminal (issue 13, L6): `slipway logs` on a TTY shows every
// control character but tab as `\xHH` (no cursor moves, screen rewrites, window titles or 8-bit
// CSI from an app), and passes the bytes through unchanged when piped. The real CLI runs under a
// pseudo-terminal (`script`), against a real controller whose log stream holds a hostile line.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { escapeControls, escapeJsonControls, formatLine } from '../../layer1/cli/commands/logs.ts';
import { LogKeys } from '../../layer1/logs/types.ts';
import { startTestController, type TestController } from '../helpers/controller.ts';

const execFileP = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'slipway.js');
const HOSTILE = 'before\x1b]0;pwned\x07\x1b[2J\x1b[1;1H\rover\x08\x9b31m\tafter\x00';

let c: TestController;
before(async () => {
  c = await startTestController();
  const made = await c.request('POST', '/v1/apps', { token: c.adminToken, body: { name: 'loud' } });
  assert.equal(made.status, 201);
  const redis = c.redis.connect();
  const keys = new LogKeys(c.controller.store.keys.prefix);
  await redis.xadd(keys.logs(made.body.id), '*', 't', new Date().toISOString(), 'src', 'app', 'type', 'web', 'ps', 'web.1', 's', 'stdout', 'msg', HOSTILE);
  redis.disconnect();
});
after(async () => c?.close());

const env = () => ({ ...process.env, SLIPWAY_URL: c.url, SLIPWAY_TOKEN: c.adminToken, NO_COLOR: '1', HOME: join(c.home, 'cli-home') });

describe('slipway logs on a terminal (L6)', { timeout: 60_000 }, () => {
  it('escapes C0 and C1 controls but tab', () => {
    assert.equal(escapeControls(HOSTILE), 'before\\x1b]0;pwned\\x07\\x1b[2J\\x1b[1;1H\\x0dover\\x08\\x9b31m\tafter\\x00');
    const line = formatLine({ id: '1', time: '2026-01-01T00:00:00.000000Z', source: 'app', process: 'web.1', message: HOSTILE }, false, true);
    assert.doesNotMatch(line, /[\x00-\x08\x0a-\x1f\x7f-\x9f]/);
    assert.equal(formatLine({ id: '1', time: 't', source: 'app', process: 'web.1', message: 'a\x1bb' }, false, false), 't app[web.1]: a\x1bb', 'piped: as it came');
    assert.equal(JSON.parse(`"${escapeJsonControls('a\x9bb')}"`), 'a\x9bb', 'NDJSON stays valid');
  });

  it('the real CLI under a pseudo-terminal prints no control character of the app\'s', async () => {
    const cmd = `exec ${process.execPath} ${BIN} logs -a loud`;
    const { stdout } = await execFileP('script', ['-qec', cmd, '/dev/null'], { env: env(), timeout: 30_000 });
    const out = stdout.replace(/\r\n/g, '\n'); // the pty's own line ends
    assert.match(out, /app\[web\.1\]: before\\x1b\]0;pwned\\x07/);
    assert.doesNotMatch(out, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/, JSON.stringify(out));
    const json = await execFileP('script', ['-qec', `${cmd} --json`, '/dev/null'], { env: env(), timeout: 30_000 });
    assert.doesNotMatch(json.stdout.replace(/\r\n/g, '\n'), /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  it('piped, the line is passed through as it came', async () => {
    const { stdout } = await execFileP(process.execPath, [BIN, 'logs', '-a', 'loud'], { env: env(), timeout: 30_000 });
    assert.ok(stdout.includes(HOSTILE), JSON.stringify(stdout));
  });
});
