// The dashboard's view logic as plain data: process and app states (always a word with the
// colour), the caller's role, the current release, sparklines, log lines and metrics of the API.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appState, can, currentVersion, effectiveRole, logLine, metricsByProcess, processState, releaseState, sparkline, traffic } from '../../../web/present.ts';

const ps = (state: string, exitCode: number | null = null) => ({ state, exitCode, registered: state === 'running', type: 'web' });

describe('web/present', () => {
  it('names process states in words with a tone', () => {
    assert.deepEqual(processState(ps('running')), { tone: 'ok', label: 'running' });
    assert.deepEqual(processState(ps('starting')), { tone: 'warn', label: 'starting' });
    assert.deepEqual(processState(ps('exited', 137)), { tone: 'bad', label: 'crashed (exit 137)' });
    assert.deepEqual(processState(ps('exited', 0)), { tone: 'idle', label: 'exited' });
    assert.deepEqual(processState(ps('restarting')), { tone: 'bad', label: 'crashed, restarting' });
  });

  it("sums an app's state: crashed beats starting beats updating beats running", () => {
    assert.equal(appState([], false).label, 'not deployed');
    assert.equal(appState([], true).label, 'no processes');
    assert.deepEqual(appState([], true, 'failed'), { tone: 'bad', label: 'deploy failed' });
    assert.equal(appState([ps('running'), ps('running')], true).label, 'running');
    assert.equal(appState([ps('running'), ps('stopping')], true).label, 'updating');
    assert.equal(appState([ps('running'), ps('pending')], true).label, 'starting');
    assert.equal(appState([ps('pending'), ps('exited', 1)], true).label, 'crashed');
  });

  it("takes the weaker of the user's and the token's role", () => {
    assert.equal(effectiveRole({ admin: true, tokenRole: 'admin' }, null), 'admin');
    assert.equal(effectiveRole({ admin: true, tokenRole: 'view' }, null), 'view');
    assert.equal(effectiveRole({ admin: false, tokenRole: 'owner' }, 'deploy'), 'deploy');
    assert.equal(effectiveRole({ admin: false, tokenRole: 'view' }, 'owner'), 'view');
    assert.equal(effectiveRole({ admin: false, tokenRole: 'owner' }, null), null);
    assert.ok(can('deploy', 'deploy') && !can('view', 'deploy') && !can(null, 'view') && can('admin', 'owner'));
  });

  it('calls the newest deployed release current and older deployed ones previous', () => {
    const rels = [{ version: 4, status: 'pending' }, { version: 3, status: 'deployed' }, { version: 2, status: 'deployed' }];
    assert.equal(currentVersion(rels), 3);
    assert.deepEqual(releaseState('deployed', true), { tone: 'ok', label: 'current' });
    assert.deepEqual(releaseState('deployed', false), { tone: 'idle', label: 'previous' });
    assert.deepEqual(releaseState('pending', false), { tone: 'warn', label: 'rolling out' });
    assert.deepEqual(releaseState('failed', false), { tone: 'bad', label: 'failed' });
  });

  it('draws a sparkline as SVG with a text alternative, escaped', () => {
    assert.match(sparkline([1], 'CPU', '%'), /–/);
    const svg = sparkline([0, 5, 2.5], 'CPU <x>', '%');
    assert.match(svg, /^<svg class="spark"[^>]* role="img" aria-label="CPU &#60;x&#62;: 2\.5% now, peak 5\.0%"/);
    assert.match(svg, /<polyline [^>]*points="0\.0,22\.0 48\.0,2\.0 96\.0,12\.0"/);
    assert.ok(!svg.includes('style='), 'no inline style (CSP)');
    assert.match(sparkline([1024 ** 2, 3 * 1024 ** 2], 'Memory', 'bytes'), /3 MiB/);
  });

  it('reads log lines of the logs API', () => {
    assert.deepEqual(logLine({ id: '1-0', time: '2026-01-01T00:00:01.5Z', source: 'app', type: 'web', process: 'web.2', stream: 'stderr', message: 'boom' }),
      { id: '1-0', at: '2026-01-01T00:00:01.5Z', source: 'web.2', stream: 'stderr', text: 'boom' });
    assert.equal(logLine({ id: '2-0', time: 't', source: 'platform', message: 'deploy 3 started', event: 'deploy' }).source, 'slipway');
    assert.equal(logLine({ id: '2-0', time: 't', source: 'platform', message: 'x' }).stream, 'event');
    assert.equal(logLine({ id: '3-0', time: 't', source: 'router', message: 'GET / 200', status: 200 }).stream, 'router');
    assert.equal(logLine({ id: '4-0', time: 't', source: 'app', process: 'web.1', message: 'aaa', part: '1/2' }).text, 'aaa (part 1/2)');
  });

  it('reads per-process history from the metrics API', () => {
    const m = metricsByProcess({ since: 'x', processes: [{ id: 'abc', cpuPercent: 3, memoryBytes: 30, memoryLimit: 100, history: [[1, 1, 10], [2, 2, 20], [3, 3, 30]] }, { id: 'def', cpuPercent: 7, memoryBytes: 70, memoryLimit: 0, history: [] }] });
    assert.deepEqual(m.get('abc'), { cpu: [1, 2, 3], memory: [10, 20, 30], memoryLimit: 100 });
    assert.deepEqual(m.get('def'), { cpu: [7], memory: [70], memoryLimit: null });
    assert.equal(metricsByProcess(null).size, 0);
    assert.equal(metricsByProcess({ error: {} }).size, 0);
  });

  it("sums the router's numbers of the app", () => {
    const t = traffic({ processes: [], router: { requests: 120, rate: 0.13, classes: { '2xx': 100, '5xx': 15, '503': 5 }, latencyMs: { p50: 2.25, p95: 40.4, p99: null, mean: 5 }, history: [[1, 10], [2, 110]] } });
    assert.deepEqual(t, { requests: 120, rate: '7.8/min', p50: '2.3 ms', p95: '40 ms', errors: 20, history: [10, 110] });
    assert.equal(traffic({ processes: [] }), null);
  });
});
