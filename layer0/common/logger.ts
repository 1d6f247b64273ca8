// Structured logs (pino). Components take a child logger named after themselves.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.SLIPWAY_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
