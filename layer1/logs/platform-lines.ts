// The platform's own lines in an app's log: the deploy core's app events (release, deployment
// steps, scale, build) bridged from the global `events` stream, and what the agent's container
// events say (crashed with its exit code, OOM-killed, restarted). Bridged once per cluster: the
// cursor moves by compare-and-set in the same script that adds the lines.
import type { Redis } from 'ioredis';
import type { Logger } from '../../layer0/common/logger.ts';
import { lastStreamId } from './entries.ts';
import { LINE_OVERHEAD_BYTES, type LogKeys } from './types.ts';
import type { ContainerTags } from './follower.ts';

export function platformFields(message: string, event: string, extra: { type?: string; process?: string; release?: string } = {}, at = new Date().toISOString()): string[] {
  const f = ['t', at, 'src', 'platform', 'ev', event, 'msg', message];
  if (extra.type) f.push('type', extra.type);
  if (extra.process) f.push('ps', extra.process);
  if (extra.release) f.push('rel', extra.release);
  return f;
}

/** A line for a deploy-core event, or null for events not worth a log line. */
export function describeAppEvent(type: string, d: Record<string, unknown>): { event: string; message: string } | null {
  const by = d.createdBy ? ` by ${String(d.createdBy)}` : '';
  switch (type) {
    case 'release.created': return { event: 'release', message: `release v${String(d.version)} created${by}${d.reason ? `: ${String(d.reason)}` : ''}` };
    case 'release.failed': return { event: 'release', message: `release v${String(d.version)} failed: ${String(d.message ?? d.check ?? '')}` };
    case 'deployment.queued': return { event: 'deploy', message: `deploy ${String(d.id)} queued${d.to ? ` (to v${String(d.to)})` : ''}${d.kind ? `, ${String(d.kind)}` : ''}` };
    case 'deployment.running': return { event: 'deploy', message: `deploy ${String(d.id)} started` };
    case 'deployment.succeeded': return { event: 'deploy', message: `deploy ${String(d.id)} succeeded` };
    case 'deployment.failed': return { event: 'deploy', message: `deploy ${String(d.id)} failed${d.message ? `: ${String(d.message)}` : ''}` };
    case 'deployment.superseded': return { event: 'deploy', message: `deploy ${String(d.id)} superseded by ${String(d.supersededBy)}` };
    case 'formation.scaled':
    case 'scaled': return { event: 'scale', message: `scaled ${JSON.stringify(d.formation ?? d)}${by}` };
    default:
      if (type.startsWith('build.')) return { event: 'build', message: `build ${type.slice(6)}${d.id ? ` ${String(d.id)}` : ''}${d.message ? `: ${String(d.message)}` : ''}` };
      return { event: type.split('.')[0] ?? type, message: `${type} ${JSON.stringify(d)}` };
  }
}

/** `slipway.type` of build containers (layer1/builder). */
export const BUILD_TYPE = 'build';

/** A build container's start and end (its output stays with the build record). */
export function describeBuildEvent(action: string, attrs: Record<string, string>, killed: boolean): { event: string; message: string } | null {
  const id = attrs['slipway.build'] ?? '';
  if (action === 'start') return { event: 'build', message: `build ${id} started` };
  if (action === 'oom') return { event: 'build', message: `build ${id} ran out of memory` };
  if (action !== 'die') return null;
  const code = Number(attrs.exitCode ?? 0);
  if (killed) return { event: 'build', message: `build ${id} stopped` };
  return { event: 'build', message: code === 0 ? `build ${id} finished compiling` : `build ${id} failed (exit code ${code})` };
}

/** From an agent container event, the platform line (if any). `killed`: whether a stop or kill was asked for just before. */
export function describeContainerEvent(action: string, attrs: Record<string, string>, t: ContainerTags, killed: boolean): { event: string; message: string } | null {
  const who = `${t.process} (${t.id.slice(0, 12)})`;
  switch (action) {
    case 'die': {
      const code = Number(attrs.exitCode ?? 0);
      if (killed) return { event: 'stopped', message: `process ${who} stopped (exit status ${code})` };
      if (code === 0) return { event: 'exited', message: `process ${who} exited (status 0)` };
      return { event: 'crashed', message: `process ${who} crashed with exit code ${code}` };
    }
    case 'oom': return { event: 'oom', message: `process ${who} was killed: out of memory (memory limit reached)` };
    case 'restart': return { event: 'restarted', message: `process ${who} restarted` };
    default: return null;
  }
}

// KEYS[1] cursor; ARGV[1] expected cursor ('' = none), ARGV[2] new cursor, ARGV[3] entry count,
// then per entry: key, maxlen, field count, fields…
const BRIDGE_LUA = `
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then return 0 end
local i = 4
for e = 1, tonumber(ARGV[3]) do
  local key = ARGV[i]; local maxlen = ARGV[i + 1]; local n = tonumber(ARGV[i + 2])
  -- Only into the stream of an app that still exists (its hash is the stream key less ':logs').
  if redis.call('EXISTS', string.sub(key, 1, -6)) == 1 then
    local args = {'XADD', key, 'MAXLEN', '~', maxlen, '*'}
    -- Counted in the app's log bytes (logs/budget.ts) like the shipper's lines.
    local size = ${LINE_OVERHEAD_BYTES}
    for j = 1, n do args[#args + 1] = ARGV[i + 2 + j]; size = size + #ARGV[i + 2 + j] end
    redis.call(unpack(args))
    redis.call('INCRBY', string.sub(key, 1, -6) .. ':log-bytes', size)
  end
  i = i + 3 + n
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;

/** Bridges the deploy core's `events` stream into app logs, from a shared cursor; any number may run. */
export class EventBridge {
  private readonly ac = new AbortController();
  private readonly reader: Redis;
  readonly done: Promise<void>;

  constructor(private readonly redis: Redis, private readonly keys: LogKeys, private readonly log: Logger) {
    this.reader = redis.duplicate();
    this.reader.on('error', () => undefined);
    this.done = this.run();
  }

  private async run(): Promise<void> {
    while (!this.ac.signal.aborted) {
      try {
        let cur = await this.redis.get(this.keys.bridgeCursor);
        if (cur === null) {
          // First start: begin at the present (older events are history, not log lines).
          const last = await lastStreamId(this.redis, this.keys.events);
          await this.redis.set(this.keys.bridgeCursor, last, 'NX');
          cur = await this.redis.get(this.keys.bridgeCursor);
        }
        const res = (await this.reader.xread('COUNT', 200, 'BLOCK', 2000, 'STREAMS', this.keys.events, cur ?? '0-0')) as [string, [string, string[]][]][] | null;
        if (this.ac.signal.aborted) return;
        const rows = res?.[0]?.[1] ?? [];
        if (!rows.length) continue;
        const args: string[] = [];
        let count = 0;
        for (const [, f] of rows) {
          const m: Record<string, string> = {};
          for (let i = 0; i + 1 < f.length; i += 2) m[f[i]!] = f[i + 1]!;
          if (!m.appId) continue;
          let data: Record<string, unknown> = {};
          try {
            data = JSON.parse(m.data ?? '{}') as Record<string, unknown>;
          } catch { /* keep the type */ }
          const line = describeAppEvent(m.type ?? 'unknown', data);
          if (!line) continue;
          const fields = platformFields(line.message, line.event, { release: data.version ? `v${String(data.version)}` : undefined }, m.at || undefined);
          args.push(this.keys.logs(m.appId), '100000', String(fields.length), ...fields);
          count++;
        }
        await this.redis.eval(BRIDGE_LUA, 1, this.keys.bridgeCursor, cur ?? '', rows[rows.length - 1]![0], String(count), ...args);
      } catch (err) {
        if (this.ac.signal.aborted) return;
        this.log.warn({ err }, 'event bridge failed; again in a second');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async close(): Promise<void> {
    this.ac.abort();
    this.reader.disconnect();
    await this.done;
  }
}
