// The JSON text frames of an interactive run's WebSocket (GET /v1/apps/:app/run/attach). Binary
// frames carry the terminal's bytes both ways; these schemas are components of the OpenAPI
// document, which cannot describe WebSocket messages itself.
import { z } from 'zod';
import { components } from '../types.ts';

export const TtyControl = z
  .object({
    resize: z.object({ cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }).describe('the terminal is now cols × rows; the process gets SIGWINCH'),
  })
  .describe('A text frame from the client: a control message (stdin goes in binary frames).');
components.add(TtyControl, { id: 'RunTtyControl' });

export const TtyEnd = z
  .union([
    z.object({
      exitCode: z.number().int(),
      reason: z.literal('timeout').optional().describe('why the platform killed it (then exitCode is 137)'),
      message: z.string().optional(),
    }),
    z.object({ error: z.object({ code: z.string(), message: z.string() }).describe('the session failed on the platform side (no exit code)') }),
  ])
  .describe('The one text frame the server sends, last, before it closes the WebSocket (1000; 1011 after an error). The terminal output comes in binary frames before it.');
components.add(TtyEnd, { id: 'RunTtyEnd' });

export type TtyControl = z.infer<typeof TtyControl>;
export type TtyEnd = z.infer<typeof TtyEnd>;
