/**
 * Lua shared by the scripts that compare Redis stream ids (`<ms>-<seq>`), spliced into their source:
 * the one Lua twin of `compareStreamIds` in `model/wire.ts`.
 */

/** Defines `compareStreamIds(a, b)` in a script: negative, zero or positive, numerically by ms then seq. */
export const LUA_COMPARE_STREAM_IDS = `
local function parseStreamId(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function compareStreamIds(a, b)
  local ams, aseq = parseStreamId(a)
  local bms, bseq = parseStreamId(b)
  if ams ~= bms then return ams < bms and -1 or 1 end
  if aseq ~= bseq then return aseq < bseq and -1 or 1 end
  return 0
end`;
