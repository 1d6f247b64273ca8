// Discovery against a real redis-server: registration and TTL expiry, watches that see every
// change exactly once (also across a SIGKILL of Redis and a trimmed stream), and leader
// election with fencing tokens across failovers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDiscovery, type DiscoveryOptions } from '../../layer0/discovery/client.ts';
import type { Discovery, Instance, Leadership, WatchEvent } from '../../layer0/discovery/types.ts';
import { applyEvent } from '../../layer0/discovery/diff.ts';
import { decodeEntry } from '../../layer0/discovery/watch.ts';
import { serviceKeys } from '../../layer0/discovery/store.ts';
import type { Redis } from '../../layer0/discovery/redis.ts';
import { startTestRedis, type TestRedis } from '../helpers/redis.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
  return performance.now() - t0;
}

interface Watcher {
  events: WatchEvent[];
  view: Map<string, Instance>;
  stop(): Promise<void>;
}

function watchAll(d: Discovery, service: string): Watcher {
  const ac = new AbortController();
  const events: WatchEvent[] = [];
  const view = new Map<string, Instance>();
  const done = (async () => {
    for await (const ev of d.watch(service, ac.signal)) {
      events.push(ev);
      applyEvent(view, ev);
    }
  })();
  return {
    events,
    view,
    async stop() {
      ac.abort();
      await done;
    },
  };
}

/** What happened, according to Redis: the service's whole event stream. */
async function history(redis: Redis, prefix: string, service: string): Promise<string[]> {
  const entries = await redis.xrange(serviceKeys(prefix, service).events, '-', '+');
  return entries.map(([, f]) => describeEvent(decodeEntry(f)!.event));
}

const describeEvent = (e: WatchEvent) => (e.type === 'current' ? `current:${e.instances.map((i) => i.id).join(',')}` : `${e.type}:${e.instance.id}`);
const ids = (xs: Iterable<Instance>) => [...xs].map((i) => i.id).sort();

describe('discovery', () => {
  let r: TestRedis;
  const clients: Discovery[] = [];
  const client = (opts: Partial<DiscoveryOptions> & { prefix: string }) => {
    const d = createDiscovery({ redis: opts.redis ?? r.connect(), keyPrefix: opts.prefix, ttlMs: 1000, heartbeatMs: 200, ...opts });
    clients.push(d);
    return d;
  };

  before(async () => {
    r = await startTestRedis();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await r?.cleanup();
  });

  test('register, list, update and deregister', async () => {
    const prefix = r.prefix();
    const d = client({ prefix });
    const before = Date.now();
    const a = await d.register('web', { id: 'a', addr: '127.0.0.1:5001', meta: { v: '1' } });
    await d.register('web', { id: 'b', addr: '127.0.0.1:5002' });
    const list = await d.instances('web');
    assert.deepEqual(ids(list), ['a', 'b']);
    assert.equal(list[0].service, 'web');
    assert.deepEqual(list[0].meta, { v: '1' });
    // registeredAt is Redis' clock, which here is ours.
    assert.ok(Math.abs(list[0].registeredAt - before) < 2000);
    assert.equal(a.instance.registeredAt, list[0].registeredAt);
    await a.update({ v: '2' });
    assert.deepEqual((await d.instances('web')).find((i) => i.id === 'a')?.meta, { v: '2' });
    await a.deregister();
    assert.deepEqual(ids(await d.instances('web')), ['b']);
    assert.deepEqual(await d.instances('other'), []);
    await assert.rejects(d.register('Bad Name', { id: 'x', addr: 'y' }), /bad instance/);
    await assert.rejects(d.register('web', { id: 'x', addr: 'y' }, { ttlMs: 100, heartbeatMs: 200 }), /heartbeat/);
  });

  test('an instance whose heartbeats stop disappears within its ttl plus a sweep', async () => {
    const prefix = r.prefix();
    const observer = client({ prefix });
    const w = watchAll(observer, 'api');
    await until(() => w.events.length === 1, 2000, 'current');
    const conn = r.connect();
    const dying = client({ prefix, redis: conn, sweepMs: 0 });
    await dying.register('api', { id: 'doomed', addr: '127.0.0.1:1' }, { ttlMs: 1000, heartbeatMs: 200 });
    await until(() => w.view.has('doomed'), 2000, 'the watcher to see it');
    await sleep(500);
    assert.ok(w.view.has('doomed'), 'heartbeats keep it alive');
    const stopped = performance.now();
    conn.disconnect(); // the process is gone: no heartbeat, no deregistration
    const took = await until(async () => (await observer.instances('api')).length === 0, 3000, 'expiry');
    assert.ok(took <= 1000 + 250 + 200, `gone after ${Math.round(performance.now() - stopped)} ms`);
    await until(() => !w.view.has('doomed'), 1000, 'the watcher to see it go');
    await w.stop();
    assert.deepEqual(w.events.map(describeEvent), ['current:', 'up:doomed', 'down:doomed']);
  });

  test('a heartbeat registers an instance again once it expired', async () => {
    const prefix = r.prefix();
    const d = client({ prefix, sweepMs: 0 });
    const reg = await d.register('svc', { id: 'x', addr: 'h:1' }, { ttlMs: 1000, heartbeatMs: 100 });
    const first = reg.instance.registeredAt;
    // Simulate an expiry the heartbeats did not prevent (a long pause, a lost Redis).
    const raw = r.connect();
    await raw.hdel(serviceKeys(prefix, 'svc').instances, 'x');
    await until(async () => (await d.instances('svc')).length === 1, 1000, 're-registration');
    await until(() => reg.instance.registeredAt >= first, 500, 'registeredAt');
    assert.deepEqual(await history(raw, prefix, 'svc'), ['up:x', 'up:x']);
    await reg.deregister();
  });

  test('a watch sees the current instances, then up, update and down in order', async () => {
    const prefix = r.prefix();
    const d = client({ prefix });
    await d.register('db', { id: 'one', addr: 'h:1' });
    const w = watchAll(d, 'db');
    await until(() => w.events.length === 1, 2000, 'current');
    const two = await d.register('db', { id: 'two', addr: 'h:2' });
    await two.update({ role: 'primary' });
    await d.register('db', { id: 'one', addr: 'h:1' }); // unchanged: no event
    await two.deregister();
    await until(() => w.events.length === 4, 2000, 'three changes');
    await sleep(100);
    await w.stop();
    assert.deepEqual(w.events.map(describeEvent), ['current:one', 'up:two', 'update:two', 'down:two']);
    const upd = w.events[2];
    assert.ok(upd.type === 'update' && upd.instance.meta.role === 'primary');
  });

  test('a watcher that fell behind a trimmed stream catches up from a snapshot, losing and repeating nothing', async () => {
    const prefix = r.prefix();
    const d = client({ prefix });
    await d.register('q', { id: 'a', addr: 'h:1' });
    await d.register('q', { id: 'b', addr: 'h:2' });
    const ac = new AbortController();
    const it = d.watch('q', ac.signal)[Symbol.asyncIterator]();
    const view = new Map<string, Instance>();
    const first = await it.next();
    applyEvent(view, first.value as WatchEvent);
    assert.deepEqual(ids(view.values()), ['a', 'b']);
    // While the consumer does not read, changes happen and the stream is trimmed past it.
    const c = await d.register('q', { id: 'c', addr: 'h:3' });
    await d.register('q', { id: 'b', addr: 'h:22' });
    const regA = await d.register('q', { id: 'a', addr: 'h:1' });
    await regA.deregister();
    await c.update({ k: 'v' });
    await d.register('q', { id: 'd', addr: 'h:4' });
    const raw = r.connect();
    await raw.xtrim(serviceKeys(prefix, 'q').events, 'MAXLEN', 1);
    const seen: string[] = [];
    const expected = (await d.instances('q')).map((i) => JSON.stringify(i)).sort();
    while (JSON.stringify([...view.values()].map((i) => JSON.stringify(i)).sort()) !== JSON.stringify(expected)) {
      const n = await Promise.race([it.next(), sleep(3000).then(() => null)]);
      assert.ok(n && !n.done, `the watcher caught up (saw ${seen.join(' ')})`);
      const ev = n.value as WatchEvent;
      seen.push(describeEvent(ev));
      // No duplicate: every event changes the view the way its type says.
      if (ev.type === 'up') assert.ok(!view.has(ev.instance.id), `duplicate up ${ev.instance.id}`);
      if (ev.type === 'update' || ev.type === 'down') assert.ok(view.has(ev.instance.id), `${ev.type} of unknown ${ev.instance.id}`);
      applyEvent(view, ev);
    }
    assert.deepEqual(seen, ['down:a', 'update:b', 'up:c', 'up:d']);
    ac.abort();
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  test('SIGKILL of Redis: registrations survive, heartbeats resume, the watch loses and repeats nothing, the leader keeps leading', async () => {
    const prefix = r.prefix();
    const agent = client({ prefix, ttlMs: 1500, heartbeatMs: 200 });
    const observer = client({ prefix, ttlMs: 1500 });
    const w = watchAll(observer, 'web');
    await until(() => w.events.length === 1, 2000, 'current');
    const regs = [await agent.register('web', { id: 'a', addr: 'h:1' }), await agent.register('web', { id: 'b', addr: 'h:2' })];
    const lead = agent.campaign('sched', { id: 'agent' }, { ttlMs: 1500 });
    let deposed = 0;
    lead.on('deposed', () => deposed++);
    await until(() => lead.isLeader, 2000, 'election');
    const token = lead.token;
    await until(() => w.view.size === 2, 2000, 'watch sees a, b');

    await r.kill();
    await sleep(200);
    await r.restart();
    const raw = r.connect();
    // From the AOF, before any heartbeat could have re-registered them.
    assert.deepEqual((await raw.hkeys(serviceKeys(prefix, 'web').instances)).sort(), ['a', 'b']);
    const hb = (await raw.zscore(serviceKeys(prefix, 'web').expiry, 'a'))!;
    await until(async () => Number(await raw.zscore(serviceKeys(prefix, 'web').expiry, 'a')) > Number(hb), 2000, 'heartbeats to resume');

    // Changes after the restart reach the watcher, in order, exactly once.
    await regs[1].deregister();
    await agent.register('web', { id: 'c', addr: 'h:3' });
    await regs[0].update({ after: 'restart' });
    await until(() => w.view.size === 2 && w.view.get('a')?.meta.after === 'restart', 3000, 'watch after restart');
    await sleep(300);
    assert.equal(lead.isLeader, true);
    assert.equal(lead.token, token, 'kept the same term');
    assert.equal(deposed, 0);
    assert.equal((await observer.leader('sched'))?.token, token);
    await w.stop();
    assert.deepEqual(w.events.slice(1).map(describeEvent), await history(raw, prefix, 'web'));
    assert.deepEqual(w.events.slice(1).map(describeEvent), ['up:a', 'up:b', 'down:b', 'up:c', 'update:a']);
    await lead.resign();
  });

  test('Redis away longer than the ttl: the leader is deposed, then leads again with a newer token; instances come back', async () => {
    const prefix = r.prefix();
    const agent = client({ prefix, ttlMs: 1000, heartbeatMs: 200 });
    const observer = client({ prefix });
    const w = watchAll(observer, 'web');
    await until(() => w.events.length === 1, 2000, 'current');
    await agent.register('web', { id: 'a', addr: 'h:1' });
    const lead = agent.campaign('sched', { id: 'agent' }, { ttlMs: 1000 });
    await until(() => lead.isLeader, 2000, 'election');
    await until(() => w.view.size === 1, 2000, 'watch sees a');
    const token = lead.token;
    let deposedAt = 0;
    lead.on('deposed', () => (deposedAt = performance.now()));
    const killedAt = performance.now();
    await r.kill();
    await until(() => deposedAt > 0, 1500, 'the leader to notice');
    assert.ok(deposedAt - killedAt <= 1000, `deposed ${Math.round(deposedAt - killedAt)} ms after Redis died`);
    await sleep(1200);
    await r.restart();
    await until(() => lead.isLeader, 3000, 're-election');
    assert.ok(lead.token > token);
    const raw = r.connect();
    await until(async () => (await raw.hexists(serviceKeys(prefix, 'web').instances, 'a')) === 1 && w.view.has('a'), 3000, 'a is back');
    await sleep(300);
    await w.stop();
    // The watcher's model ends where Redis is, and it saw each recorded change once.
    assert.deepEqual(w.events.slice(1).map(describeEvent), await history(raw, prefix, 'web'));
    await lead.resign();
  });

  test('heartbeats do not pile up while Redis is down', async () => {
    // A Redis of its own, so that only this client's commands are counted.
    const own = await startTestRedis();
    try {
      const conn = own.connect();
      const d = createDiscovery({ redis: conn, keyPrefix: 'p:', sweepMs: 0 });
      clients.push(d);
      await d.register('svc', { id: 'x', addr: 'h:1' }, { ttlMs: 5000, heartbeatMs: 50 });
      await own.kill();
      await sleep(1000); // 20 heartbeat periods
      const ready = new Promise((res) => conn.once('ready', res));
      await own.restart();
      await ready;
      await sleep(20);
      const stats = String(await own.connect().info('commandstats'));
      const calls = [...stats.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
      assert.ok(calls >= 1 && calls <= 4, `${calls} script calls right after the restart`);
      await d.close();
    } finally {
      await own.cleanup();
    }
  });

  describe('leader election', () => {
    test('one leader among three candidates; standbys take over within the ttl with larger tokens', async () => {
      const prefix = r.prefix();
      const ttl = 1000;
      const conns = [r.connect(), r.connect(), r.connect()];
      const ds = conns.map((redis) => client({ prefix, redis }));
      const timeline: { who: number; what: 'elected' | 'deposed'; token: number; at: number }[] = [];
      const ls: Leadership[] = ds.map((d, i) => {
        const l = d.campaign('sched', { id: `c${i}`, meta: { n: String(i) } }, { ttlMs: ttl });
        l.on('elected', (token) => timeline.push({ who: i, what: 'elected', token, at: performance.now() }));
        l.on('deposed', () => timeline.push({ who: i, what: 'deposed', token: l.token, at: performance.now() }));
        return l;
      });
      let overlap = false;
      let third = -1;
      const sampler = setInterval(() => {
        if (ls.filter((l) => l.isLeader).length > 1) overlap = true;
      }, 5);
      try {
        await until(() => ls.some((l) => l.isLeader), 2000, 'a first leader');
        await sleep(ttl * 1.5);
        assert.equal(ls.filter((l) => l.isLeader).length, 1);
        const first = ls.findIndex((l) => l.isLeader);
        const current = await ds[0].leader('sched');
        assert.deepEqual(current, { id: `c${first}`, token: ls[first].token, meta: { n: String(first) } });

        // 1. The leader resigns: a standby leads within the ttl.
        const t1 = performance.now();
        await ls[first].resign();
        await until(() => ls.some((l, i) => i !== first && l.isLeader), ttl, 'a standby after resign');
        const second = ls.findIndex((l) => l.isLeader);
        assert.ok(ls[second].token > ls[first].token);
        assert.ok(performance.now() - t1 < ttl);

        // 2. The leader's connection dies: it notices, and the last standby leads within the ttl.
        let noticed = 0;
        ls[second].on('deposed', () => (noticed = performance.now()));
        const t2 = performance.now();
        conns[second].disconnect();
        third = [0, 1, 2].find((i) => i !== first && i !== second)!;
        await until(() => ls[third].isLeader, ttl + 300, 'the last standby');
        const tookOver = performance.now() - t2;
        assert.ok(tookOver <= ttl + 300, `took over after ${Math.round(tookOver)} ms`);
        assert.ok(noticed > 0 && noticed <= timeline.find((e) => e.who === third && e.what === 'elected')!.at, 'the old leader knew before the new one was elected');
        assert.equal(ls[second].isLeader, false);
        assert.ok(ls[third].token > ls[second].token);
        assert.equal(overlap, false, 'never two leaders at once');

        const tokens = timeline.filter((e) => e.what === 'elected').map((e) => e.token);
        assert.deepEqual(tokens, [...tokens].sort((a, b) => a - b));
        assert.equal(new Set(tokens).size, tokens.length);
        assert.equal((await ds[third].leader('sched'))?.id, `c${third}`);
      } finally {
        clearInterval(sampler);
        await Promise.all(ls.map((l) => l.resign()));
      }
      assert.equal(await ds[third].leader('sched'), null, 'resigning released the lease');
    });

    test('a deposed leader whose lease was taken does not come back with its old token', async () => {
      const prefix = r.prefix();
      const d = client({ prefix });
      const l = d.campaign('x', { id: 'me' }, { ttlMs: 600 });
      await until(() => l.isLeader, 2000, 'election');
      let deposed = false;
      l.on('deposed', () => (deposed = true));
      // Someone else overwrote the lease (as after a long pause of ours): the next renew fails.
      const raw = r.connect();
      await raw.set(`${prefix}leader:x`, JSON.stringify({ id: 'other', token: 999, meta: {} }), 'PX', 300);
      await until(() => deposed, 600, 'deposition');
      await until(() => l.isLeader, 1500, 're-election after the other lease expired');
      assert.ok(l.token > 1);
      await l.resign();
    });
  });
});
