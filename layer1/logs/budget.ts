// An app's log stream kept within its budget: lines (maxLines), age (maxAgeSec) and bytes
// (maxBytes). XTRIM trims by count or id only, so a byte counter lives beside each stream
// (`…:log-bytes`); every writer adds what it adds, and the trim below walks the oldest entries,
// subtracts what it drops and cuts them with one exact XTRIM MINID. Shared by the writer's batch
// script (writer.ts), the settings change (client.ts) and the event bridge (platform-lines.ts).
import { LuaScript } from '../../layer0/discovery/client.ts';
import { LINE_OVERHEAD_BYTES } from './types.ts';

/**
 * Lua: `entryBytes(fields…)` and `trimLog(key, bytesKey, maxLines, minMs, maxBytes, added)`.
 * The counter of a stream from before byte budgets is seeded from MEMORY USAGE (an estimate);
 * from then on it is exact in the units it counts.
 */
export const TRIM_LUA = `
local OVERHEAD = ${LINE_OVERHEAD_BYTES}
local function entryBytes(fields)
  local n = OVERHEAD
  for _, v in ipairs(fields) do n = n + #v end
  return n
end
local function trimLog(key, bkey, maxLines, minMs, maxBytes, added, addedLines)
  local len = redis.call('XLEN', key)
  local raw = redis.call('GET', bkey)
  local bytes
  if raw then bytes = tonumber(raw) + added
  elseif len > addedLines then bytes = (tonumber(redis.call('MEMORY', 'USAGE', key)) or 0)
  else bytes = added end
  local cut = nil
  local start = '-'
  -- Read only as much as may go: one entry when nothing is over, more when lines are.
  local count = math.max(1, math.min(1024, len - maxLines))
  while len > 0 do
    local rows = redis.call('XRANGE', key, start, '+', 'COUNT', count)
    if #rows == 0 then break end
    local more = true
    for _, row in ipairs(rows) do
      local ms = tonumber(string.match(row[1], '^(%d+)'))
      if len > maxLines or bytes > maxBytes or ms < minMs then
        bytes = bytes - entryBytes(row[2])
        len = len - 1
        cut = row[1]
      else
        more = false
        break
      end
    end
    if not more or #rows < count then break end
    start = '(' .. cut
    count = math.min(1024, count * 2)
  end
  if cut then
    local ms, seq = string.match(cut, '^(%d+)-(%d+)$')
    redis.call('XTRIM', key, 'MINID', ms .. '-' .. (tonumber(seq) + 1))
  end
  if len <= 0 or bytes < 0 then bytes = 0 end
  redis.call('SET', bkey, bytes)
  return bytes
end
`;

/** KEYS[1] the stream, KEYS[2] its byte counter; ARGV maxLines, minimum time (ms), maxBytes. Returns the bytes kept. */
export const TRIM_NOW = new LuaScript(`${TRIM_LUA}
return trimLog(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), 0, 0)
`);
