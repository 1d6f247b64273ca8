// Identifiers: 64-hex ids (Docker style, the first 12 shown), short random suffixes.
import { randomBytes } from 'node:crypto';

export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

export function randomSuffix(bytes = 2): string {
  return randomBytes(bytes).toString('hex');
}
