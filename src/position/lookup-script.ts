/**
 * The read-only Lua script that finds where jobs stand in ONE BullMQ queue, atomically.
 *
 * ## The order workers take jobs in (BullMQ 6, `moveToActive`)
 * The whole `wait` list first, from its RIGHT end (`RPOPLPUSH wait active`), then `prioritized` by
 * ascending score. So a job's 1-based position is:
 * - in `wait`: `d + 1`, where `d` is its distance from the right end (the number of jobs to its
 *   right). LIFO jobs, released flow parents, stalled jobs and rate-limit put-backs are RPUSHed on
 *   the right; reading the list itself respects all of them;
 * - in `prioritized`: `LLEN wait + ZRANK + 1` (priority 0 beats every priority);
 * - `total` is `LLEN wait + ZCARD prioritized`.
 * Delayed jobs, flow parents waiting for children, active and finished jobs have no position.
 *
 * ## Algorithm and cost (N = LLEN wait, M = ids asked; figures measured on Redis 7.0, 2 vCPU)
 * 1. `LLEN`, `ZCARD`, `HMGET meta`, the limiter: O(1).
 * 2. Ids hinted `p` (and, later, every id not yet placed): `ZRANK prioritized`, O(log N) each.
 * 3. Ids hinted `w` with their last distance `d` (the watcher's hints; callers send them sorted by
 *    `d`). A list only ever changes at its two ends or by removing elements, so jobs that stayed in
 *    `wait` keep their relative order and the gap between two of them can only shrink. The script
 *    finds ONE of them exactly (the one nearest an end that is still there, by `LPOS … MAXLEN`, C
 *    speed ≈ 21 ns per element passed) and checks every other one at its predicted distance with
 *    one `LINDEX` (≈ 2–4 µs at any depth: a list is walked node by node, not element by element).
 *    When a check fails (a job between them was removed), only the gap to the previous placed job is
 *    read (`LRANGE`), because the job can only be there. Cost: O(anchor's distance to its end + M)
 *    commands. Every position this step gives is verified by reading the list: a stale or wrong
 *    hint costs time, never a wrong answer.
 * 4. Ids still unplaced: `EXISTS` on the job hash, `ZSCORE delayed | waiting-children | completed |
 *    failed` and `LPOS active` find the jobs that are NOT in `wait` (O(1) each, O(active) for the
 *    last), so those never cause a scan.
 * 5. The rest is in `wait`. With at most `lposIds` of them: `LPOS` each from both ends in turn with
 *    a growing `MAXLEN` (1024, ×4, … up to `scanLimit`), about 2.7 × its distance to the nearer end
 *    at C speed (≈ 1.5–3 ms for a job in the middle of 100k). With more: one pass reads the list in
 *    `chunk`-sized `LRANGE` windows alternately from both ends (new jobs sit at the left end, the next
 *    to run at the right) and stops as soon as every id is found: O(min(N, the largest distance of an
 *    id to its nearer end)) elements at ≈ 0.2–0.4 µs each in Lua.
 * Lua reads (steps 3 and 5) stop after `scanLimit` elements; ids not found by then answer `u`
 * (queued, position unknown: deeper than the budget from both ends). The caller shows no position
 * for them rather than a guess.
 *
 * `bench/position.ts`, 1,000 watched jobs spread evenly through the list (the worst case for depth):
 * without hints (a first lookup) ≈ 8 ms of Redis at N = 1k and 10k, ≈ 22 ms at 100k (the whole list
 * is read once); with hints (the watcher's steady state) ≈ 4–8 ms at any N, i.e. ≈ 5 ms of Redis per
 * second per 1,000 watched jobs at the default 1 s interval. One job alone: 30–100 µs near either
 * end, ≈ 1.5–3 ms in the middle of 100k.
 *
 * KEYS[1]  wait            KEYS[2]  prioritized        KEYS[3]  meta        KEYS[4]  limiter
 * KEYS[5]  delayed         KEYS[6]  waiting-children   KEYS[7]  active
 * KEYS[8]  completed       KEYS[9]  failed             KEYS[9+i] the hash of the i-th job
 * ARGV[1]  scanLimit: most elements read with LRANGE, and the MAXLEN of each LPOS
 * ARGV[2]  lposIds: with at most this many ids left for step 5, LPOS each instead of one pass
 * ARGV[3]  chunk: LRANGE window size
 * ARGV[4]  maxActive: most active jobs whose `processedOn` is read (for ETAs)
 * then 3 ARGV per id: the BullMQ job id, the hint kind (`w`, `p` or ``), the hinted distance (or ``)
 *
 * Answer: `{W, P, paused (0|1), rateLimitTtlMs (0 when not limited), elementsRead, A (LLEN active), k,
 * then k processedOn values of active jobs (at most maxActive, read by `HGET` on the job hashes, which
 * share the queue's slot), then per id: kind, value}` with kind `w` (value = distance from the right end), `p` (value = ZRANK), `d` delayed
 * (value = run-at epoch ms), `c` waiting-children, `a` active, `f` completed or failed, `x` no such
 * job, `u` in `wait` beyond the budget.
 *
 * All keys are the queue's own (`<prefix>:<queue>:…`), so they share BullMQ's hash tag on Cluster.
 */
import { luaScript } from '../store/scripts.js';

/** See the module comment for KEYS, ARGV and the answer. */
export const queuePositionsScript = luaScript(
  'queuePositions',
  `
local rcall = redis.call
local waitKey, prioKey = KEYS[1], KEYS[2]
local scanLimit = tonumber(ARGV[1])
local lposIds = tonumber(ARGV[2])
local chunk = tonumber(ARGV[3])
local maxActive = tonumber(ARGV[4])
local n = (#ARGV - 4) / 3

local W = rcall('LLEN', waitKey)
local P = rcall('ZCARD', prioKey)
local meta = rcall('HMGET', KEYS[3], 'paused', 'max')
local paused = meta[1] and 1 or 0
local limited = 0
local used = tonumber(rcall('GET', KEYS[4]))
if used then
  local max = tonumber(meta[2])
  -- a global rate limit that is used up, or a manual queue.rateLimit(ms) (MAX_SAFE_INTEGER)
  if (max and used >= max) or used >= 9007199254740991 then
    local ttl = rcall('PTTL', KEYS[4])
    if ttl > 0 then limited = ttl end
  end
end

local ids, hintKind, hintD, kind, val = {}, {}, {}, {}, {}
for i = 1, n do
  local b = 4 + (i - 1) * 3
  ids[i] = ARGV[b + 1]
  hintKind[i] = ARGV[b + 2]
  hintD[i] = tonumber(ARGV[b + 3])
end

local examined = 0
local zranked, checked = {}, {}

local function setWait(i, d) kind[i] = 'w'; val[i] = d end

local function tryPrioritized(i)
  zranked[i] = true
  local r = rcall('ZRANK', prioKey, ids[i])
  if r then kind[i] = 'p'; val[i] = r; return true end
  return false
end

-- Places a job that is certainly not in wait; false when it may be in wait.
local function settledElsewhere(i)
  checked[i] = true
  local id = ids[i]
  if rcall('EXISTS', KEYS[9 + i]) == 0 then kind[i] = 'x'; val[i] = 0; return true end
  local runAt = rcall('ZSCORE', KEYS[5], id)
  if runAt then kind[i] = 'd'; val[i] = math.floor(tonumber(runAt) / 4096); return true end
  if rcall('ZSCORE', KEYS[6], id) then kind[i] = 'c'; val[i] = 0; return true end
  if rcall('ZSCORE', KEYS[8], id) or rcall('ZSCORE', KEYS[9], id) then kind[i] = 'f'; val[i] = 0; return true end
  if rcall('LPOS', KEYS[7], id) then kind[i] = 'a'; val[i] = 0; return true end
  return false
end

-- Distance from the right end by LPOS, scanning at most maxlen elements from one end.
local function lposFrom(id, fromRight, maxlen)
  if maxlen < 1 then return nil end
  local idx
  if fromRight then idx = rcall('LPOS', waitKey, id, 'RANK', -1, 'MAXLEN', maxlen)
  else idx = rcall('LPOS', waitKey, id, 'MAXLEN', maxlen) end
  if idx then return W - 1 - idx end
  return nil
end

-- Reads distances lo..hi (inclusive) in windows, starting at hi (fromHigh) or lo; the distance of
-- ids[i] or nil. Stops at the budget.
local function scanRange(i, lo, hi, fromHigh)
  if lo < 0 then lo = 0 end
  if hi > W - 1 then hi = W - 1 end
  while lo <= hi and examined < scanLimit do
    local size = math.min(chunk, scanLimit - examined, hi - lo + 1)
    local a, b
    if fromHigh then b = hi; a = hi - size + 1; hi = a - 1 else a = lo; b = lo + size - 1; lo = b + 1 end
    local items = rcall('LRANGE', waitKey, -(b + 1), -(a + 1))
    examined = examined + #items
    for j = 1, #items do
      if items[j] == ids[i] then return b - (j - 1) end
    end
  end
  return nil
end

-- Step 2 for prioritized hints; step 3 for wait hints.
local cands = {}
for i = 1, n do
  if hintKind[i] == 'w' and hintD[i] then cands[#cands + 1] = i
  elseif hintKind[i] == 'p' then tryPrioritized(i) end
end

if #cands > 0 and W > 0 then
  -- Callers send wait hints sorted by distance (sorting in Lua costs ~1.5 µs per element); check it.
  for k = 2, #cands do
    if hintD[cands[k]] < hintD[cands[k - 1]] then
      table.sort(cands, function(a, b) return hintD[a] < hintD[b] end)
      break
    end
  end
  -- The anchor: the candidate nearest an end that is still in wait, found by LPOS at C speed. As
  -- cands are sorted by distance, the nearest to an end is the first or the last not tried yet. At
  -- most 3 LPOS tries; candidates that have left wait are skipped at O(1) each.
  local anchor = nil
  local lposTries = 0
  local lo, hi = 1, #cands
  while lposTries < 3 and lo <= hi do
    local dLo, dHi = hintD[cands[lo]], hintD[cands[hi]]
    local best
    if math.max(0, dLo) <= math.max(0, W - 1 - dHi) then best = lo; lo = lo + 1 else best = hi; hi = hi - 1 end
    local i = cands[best]
    if not settledElsewhere(i) then
      lposTries = lposTries + 1
      local d = hintD[i]
      local d2 = lposFrom(ids[i], d <= W - 1 - d, math.min(W, scanLimit))
      if d2 then setWait(i, d2); anchor = best; break end
      -- Not in wait (LPOS read all of it): moved to prioritized by changePriority, or else in no
      -- list BullMQ 6 puts waiting jobs in, so no position.
      if not zranked[i] and tryPrioritized(i) then
        -- placed in prioritized
      elseif W <= scanLimit then kind[i] = 'u'; val[i] = 0 end
    end
  end
  if anchor then
    local v = anchor
    for k = anchor + 1, #cands do
      local i = cands[k]
      if kind[i] == nil then
        local vi = cands[v]
        local pred = val[vi] + (hintD[i] - hintD[vi])
        if pred <= W - 1 and rcall('LINDEX', waitKey, -(pred + 1)) == ids[i] then
          setWait(i, pred); v = k
        else
          local d = scanRange(i, val[vi] + 1, pred - 1, true)
          if d then setWait(i, d); v = k end
        end
      end
    end
    v = anchor
    for k = anchor - 1, 1, -1 do
      local i = cands[k]
      if kind[i] == nil then
        local vi = cands[v]
        local pred = val[vi] - (hintD[vi] - hintD[i])
        if pred >= 0 and rcall('LINDEX', waitKey, -(pred + 1)) == ids[i] then
          setWait(i, pred); v = k
        else
          local d = scanRange(i, pred + 1, val[vi] - 1, false)
          if d then setWait(i, d); v = k end
        end
      end
    end
  end
end

-- Step 4: ids not placed yet.
local pending = {}
for i = 1, n do
  if kind[i] == nil then
    if not zranked[i] and tryPrioritized(i) then
      -- placed in prioritized
    elseif checked[i] or not settledElsewhere(i) then
      pending[#pending + 1] = i
    end
  end
end

-- Step 5: the rest is in wait (or nowhere BullMQ 6 puts jobs).
if #pending > 0 and W > 0 then
  if #pending <= lposIds then
    -- LPOS from both ends with a growing MAXLEN: about min(distance to the nearer end) · 2.7 elements
    -- read at C speed, at most scanLimit from each end.
    local cap = math.min(W, scanLimit)
    for _, i in ipairs(pending) do
      local m = math.min(1024, cap)
      local d = nil
      while true do
        d = lposFrom(ids[i], true, m)
        if d or m >= W then break end
        d = lposFrom(ids[i], false, m)
        if d or m >= cap then break end
        m = math.min(m * 4, cap)
      end
      if d then setWait(i, d) end
    end
  else
    local want, left = {}, 0
    for _, i in ipairs(pending) do want[ids[i]] = i; left = left + 1 end
    local lo, hi = 0, W - 1
    local fromFront = true
    while left > 0 and lo <= hi and examined < scanLimit do
      local size = math.min(chunk, scanLimit - examined, hi - lo + 1)
      local a, b
      if fromFront then a = lo; b = lo + size - 1; lo = b + 1 else b = hi; a = hi - size + 1; hi = a - 1 end
      local items = rcall('LRANGE', waitKey, -(b + 1), -(a + 1))
      examined = examined + #items
      for j = 1, #items do
        local i = want[items[j]]
        if i then setWait(i, b - (j - 1)); want[items[j]] = nil; left = left - 1 end
      end
      fromFront = not fromFront
    end
  end
end

-- The jobs running now and when they started (BullMQ processedOn), for ETAs: O(min(active, maxActive)).
local A = rcall('LLEN', KEYS[7])
local starts = {}
if A > 0 and maxActive > 0 then
  local base = string.sub(KEYS[1], 1, #KEYS[1] - 4)
  local running = rcall('LRANGE', KEYS[7], 0, maxActive - 1)
  for j = 1, #running do
    local at = tonumber(rcall('HGET', base .. running[j], 'processedOn'))
    if at then starts[#starts + 1] = at end
  end
end

local out = {W, P, paused, limited, examined, A, #starts}
for j = 1, #starts do out[#out + 1] = starts[j] end
for i = 1, n do
  out[#out + 1] = kind[i] or 'u'
  out[#out + 1] = val[i] or 0
end
return out
`,
);
