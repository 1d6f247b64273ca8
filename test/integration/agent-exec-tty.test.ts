// Interactive exec against the agent: a TTY exec (`runc exec` in the foreground with
// `terminal: true` makes the pty and copies between its pipes and the pty master) fed over a
// raw hijacked socket, resized through the agent client, and `docker exec -i` with stdin but no
// TTY; nothing leaks.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectAgent } from '../../layer0/agent/client.ts';
import { startTestAgent, type TestAgent } from '../helpers/agent.ts';

let a: TestAgent;
const IMG = 'bbtty:1';

async function ok(args: string[], opts: { input?: string } = {}): Promise<string> {
  const r = await a.docker(args, { input: opts.input });
  assert.equal(r.code, 0, `docker ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r.stdout;
}

/** One HTTP request on its own connection; JSON body in, JSON body out. */
function rawJson(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const sock = connect(a.socketPath);
    const chunks: Buffer[] = [];
    sock.setTimeout(10_000, () => sock.destroy(new Error(`timeout on ${method} ${path}`)));
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', reject);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString();
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
      let rest = text.slice(text.indexOf('\r\n\r\n') + 4);
      if (/transfer-encoding: chunked/i.test(text.slice(0, text.indexOf('\r\n\r\n')))) {
        let out = '';
        while (rest.length) {
          const nl = rest.indexOf('\r\n');
          const n = parseInt(rest.slice(0, nl), 16);
          if (!n) break;
          out += rest.slice(nl + 2, nl + 2 + n);
          rest = rest.slice(nl + 2 + n + 2);
        }
        rest = out;
      }
      resolve({ status, json: rest ? JSON.parse(rest) : null });
    });
    sock.end(`${method} ${path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
  });
}

describe('interactive exec against the agent', () => {
  before(async () => {
    a = await startTestAgent({ suffix: 't' });
    await ok(['import', a.busyboxTar, IMG]);
    await ok(['run', '-d', '--name', 'web', IMG, 'sleep', '600']);
  });
  after(async () => {
    await a.docker(['rm', '-f', 'web']);
    await a.docker(['rmi', IMG]);
    await a.cleanup();
  });

  it('runs sh with a TTY and stdin over a hijacked socket, and reports its exit code', async () => {
    const created = await rawJson('POST', '/containers/web/exec', { AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Cmd: ['sh'] });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = created.json.Id as string;
    const output = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ Detach: false, Tty: true });
      const sock = connect(a.socketPath);
      const chunks: Buffer[] = [];
      let sent = false;
      sock.setTimeout(15_000, () => sock.destroy(new Error(`exec timed out; got ${Buffer.concat(chunks).toString()}`)));
      sock.on('data', (d) => {
        chunks.push(d);
        if (!sent && Buffer.concat(chunks).includes('\r\n\r\n')) {
          sent = true;
          sock.write('echo $((6*7)); tty; exit 3\n');
        }
      });
      sock.on('error', reject);
      sock.on('end', () => resolve(Buffer.concat(chunks).toString()));
      sock.write(`POST /exec/${id}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    assert.match(output, /^HTTP\/1\.1 101 /);
    assert.match(output, /application\/vnd\.docker\.raw-stream/i);
    const stream = output.slice(output.indexOf('\r\n\r\n') + 4);
    assert.match(stream, /^42\r?$/m, stream);
    assert.match(stream, /\/dev\/pts\/\d+/, stream);
    const inspected = await rawJson('GET', `/exec/${id}/json`);
    assert.equal(inspected.status, 200);
    assert.equal(inspected.json.ExitCode, 3);
    assert.equal(inspected.json.Running, false);
    assert.equal(inspected.json.ProcessConfig.tty, true);
  });

  it('execTty (the agent client) sizes the terminal at start and on resize (stty size), and reads the exit code', async () => {
    const ex = await connectAgent({ socketPath: a.socketPath }).execTty('web', ['sh'], { cols: 100, rows: 30 });
    let out = '';
    ex.stream.on('data', (d: Buffer) => (out += d.toString()));
    const ended = new Promise<void>((resolve) => ex.stream.once('end', resolve).once('close', resolve));
    const seen = async (re: RegExp) => {
      const t0 = Date.now();
      while (!re.test(out)) {
        if (Date.now() - t0 > 10_000) assert.fail(`no ${re} in ${JSON.stringify(out)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    ex.stream.write('stty size\n');
    await seen(/^30 100\r?$/m);
    assert.equal(await ex.exitCode(), null);
    await ex.resize(120, 40);
    ex.stream.write('stty size\n');
    await seen(/^40 120\r?$/m);
    ex.stream.write('exit 7\n');
    await ended;
    assert.equal(await ex.exitCode(), 7);
    await ex.resize(80, 24); // an ended exec: nothing to size, no error
  });

  it('docker exec -t gives a TTY without stdin and passes the exit code through', async () => {
    const r = await a.docker(['exec', '-t', 'web', 'sh', '-c', 'tty; exit 4']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stdout, /^\/dev\/pts\/\d+\r?$/m, r.stdout);
  });

  it('docker exec -i feeds stdin without a TTY', async () => {
    assert.equal(await ok(['exec', '-i', 'web', 'cat'], { input: 'hello\n' }), 'hello\n');
  });
});
