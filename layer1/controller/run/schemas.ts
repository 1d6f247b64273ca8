// The parts of a one-off process's request that POST /run (JSON body) and GET /run/attach (query)
// share: the command line, more environment, the memory limit.
import { z } from 'zod';
import { CONFIG_NAME_RE, CONFIG_VALUE_MAX_BYTES, parseMemory } from '../deploy/index.ts';
import { recordKeys } from '../routes/deployments.ts';

export const COMMAND_MAX_BYTES = 4096;
const RESERVED_RE = /^(PORT|DYNO|SLIPWAY_.*)$/;

const isMemory = (v: string) => {
  try {
    parseMemory(v);
    return true;
  } catch {
    return false;
  }
};

export const RunCommand = z.string().min(1, 'an empty command')
  .refine((s) => Buffer.byteLength(s) <= COMMAND_MAX_BYTES, 'the command is over 4 KiB')
  .refine((s) => !s.includes('\0'), 'the command contains a NUL byte');

export const RunEnv = z
  .record(
    z.string().regex(CONFIG_NAME_RE, 'names are letters, digits and "_", not starting with a digit').refine((n) => !RESERVED_RE.test(n), 'reserved: PORT, DYNO and SLIPWAY_* are set by the platform'),
    z.string().refine((v) => Buffer.byteLength(v) <= CONFIG_VALUE_MAX_BYTES, 'the value is over 32 KiB').refine((v) => !v.includes('\0'), 'the value contains a NUL byte'),
    recordKeys,
  )
  .refine((e) => Object.keys(e).length <= 1000, 'at most 1000 variables');

export const RunMemory = z.string().max(20).refine(isMemory, 'a size like 256M or 1G, between 16M and 64G');
