// Client sockets reading into the shared buffer: this Node supports it (a Node whose net internals
// changed fails here rather than silently falling back to the slower path), reads arrive as views
// of the shared buffer, pause() stops them, and the end of the stream still arrives.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { isShared, owned, useSharedReads } from '../../../../../layer1/router/proxy/shared-read.ts';

describe('useSharedReads', () => {
  it('reads into the shared buffer, honours pause and resume, and still ends', async () => {
    const chunks: string[] = [];
    let sharedView = false;
    let enabled = false;
    let server!: Socket;
    const srv = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => {
      server = s;
      enabled = useSharedReads(s, function (n, buf) {
        const view = buf.subarray(0, n);
        sharedView = isShared(view) && !isShared(owned(view));
        chunks.push(view.toString());
      });
      s.on('data', () => assert.fail('a data event on a shared-read socket'));
      s.resume();
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const c = connect((srv.address() as AddressInfo).port, '127.0.0.1');
    try {
      await once(c, 'connect');
      c.write('one');
      while (chunks.length === 0) await new Promise((r) => setTimeout(r, 5));
      assert.equal(enabled, true, 'this Node lets an accepted socket read into a shared buffer');
      assert.equal(sharedView, true);
      assert.deepEqual(chunks, ['one']);

      server.pause();
      c.write('two');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(chunks, ['one'], 'nothing is read while paused');
      server.resume();
      while (chunks.length < 2) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(chunks, ['one', 'two']);

      const ended = once(server, 'end');
      c.end();
      await ended;
    } finally {
      c.destroy();
      server?.destroy();
      srv.close();
    }
  });
});
