// Stream entries ↔ log lines: the short field names the shipper writes (`t`, `src`, `type`, `ps`,
// `rel`, `s`, `msg`, `part`, `st`, `ev`) and the LogLine the API serves; the filters of a query.
import type { Redis } from 'ioredis';
import type { LogLine, LogSource } from './types.ts';

/** The newest id of stream `key` ('0-0' when empty): where a reader of what comes next starts. */
export async function lastStreamId(redis: Pick<Redis, 'xrevrange'>, key: string): Promise<string> {
  return (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
}

export function toLogLine(id: string, f: string[]): LogLine {
  const l: LogLine = { id, time: '', source: 'app', message: '' };
  for (let i = 0; i + 1 < f.length; i += 2) {
    const v = f[i + 1]!;
    switch (f[i]) {
      case 't': l.time = v; break;
      case 'src': l.source = v as LogSource; break;
      case 'type': l.type = v; break;
      case 'ps': l.process = v; break;
      case 'rel': l.release = v; break;
      case 's': l.stream = v as 'stdout' | 'stderr'; break;
      case 'msg': l.message = v; break;
      case 'part': l.part = v; break;
      case 'st': l.status = Number(v); break;
      case 'ev': l.event = v; break;
    }
  }
  if (!l.time) l.time = new Date(Number(id.split('-')[0])).toISOString();
  return l;
}

export interface LogFilter {
  type?: string;
  process?: string;
  release?: string;
  stream?: 'stdout' | 'stderr';
  source?: LogSource;
}

export function matches(l: LogLine, f: LogFilter): boolean {
  if (f.source && l.source !== f.source) return false;
  if (f.type && l.type !== f.type) return false;
  if (f.process && l.process !== f.process) return false;
  if (f.release && l.release !== f.release && l.release !== `v${f.release}`) return false;
  if (f.stream && l.stream !== f.stream) return false;
  return true;
}

/** `--ps web` is a type, `--ps web.1` a process. */
export function psFilter(ps: string | undefined): Pick<LogFilter, 'type' | 'process'> {
  if (!ps) return {};
  return ps.includes('.') ? { process: ps } : { type: ps };
}
