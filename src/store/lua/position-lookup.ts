/**
 * The Lua script that finds where jobs stand in ONE BullMQ queue, atomically, and keeps the queue's
 * rank index (below) up to date on the way. `position/lookup.ts` runs it (through
 * {@link queuePositionsCall}) and reads its answer.
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
 * ## The rank index: O(log N) cold lookups at any depth
 * BullMQ only ever changes `wait` at its two ends (`LPUSH`, `RPUSH`, `RPOPLPUSH`) or by removing
 * elements (`LREM`, `LTRIM`, `DEL`); it never inserts in the middle. So jobs that stay in `wait` keep
 * their relative order, and the list stays sorted by an order number given to each job when it is
 * first seen at an end: new jobs on the left get numbers below every number given so far, new jobs on
 * the right numbers above. The index keeps, in the queue's slot:
 * - `KEYS[10]` zset job id → order number (to drop the entries of jobs that left, by score range);
 * - `KEYS[11]` hash job id → `"<number>|<tag>"`, where the tag is the job hash's `timestamp`,
 *   `processedOn` and `ats` when the number was given: a job that left `wait` and came back (retry,
 *   stall, rate-limit put-back, removal and re-add with the same id) has another tag, so its old
 *   number is not trusted;
 * - `KEYS[12]` hash `lo`, `hi` (the lowest and highest numbers given) and `mode`: `C` complete
 *   (every element of `wait` has a current number), `L` or `R` while it is built (the elements not
 *   numbered yet all sit on the Left, producer side, or on the Right, consumer side, of the numbered
 *   block).
 * Every call first syncs the index (ARGV[5] = `chunk` > 0). It walks each end of `wait` until an
 * element with a current number that is in order with its neighbour, numbers the new elements it
 * passed, and drops the entries beyond the two ends it stopped at (jobs taken by workers). Cost:
 * O(jobs that arrived or left at the ends since the last call). While it is built it walks only the
 * other end, and numbers up to `chunk` elements next to the block's edge (found by bisection). A first
 * call numbers the `chunk` elements at the producer end and builds toward the consumer end, so that
 * workers taking jobs shorten what is left to number; more than 64 new jobs at the producer end (an
 * `addBulk`) or `chunk` at the consumer end (LIFO jobs) of a complete index are numbered the same
 * way. More new jobs than `chunk` at the end a building index walks, an empty queue, or a wrong
 * answer found later start it afresh.
 * A complete index holds every element of `wait` plus `ZCARD − W` entries of jobs that left from the
 * middle, so a job's index from the left is between `ZRANK − (ZCARD − W)` and its `ZRANK`: with no
 * such entries one `LINDEX` finds it, else a bisection of that range by numbers. While the index is
 * built, the whole list is bisected (jobs not numbered yet all sit on one known side). `LINDEX`
 * costs ≈ 2–4 µs at any depth (a list is walked node by node): O(log N) commands at worst.
 * The element found is the job itself, so the position is read from the list, never from the index:
 * a stale or broken index costs time (the steps below), never a wrong answer.
 *
 * ## Without the index (jobs not numbered yet, or ARGV[5] = 0)
 * 1. `LLEN`, `ZCARD`, `HMGET meta`, the limiter: O(1).
 * 2. Ids hinted `p` (and, later, every id not yet placed): `ZRANK prioritized`, O(log N) each.
 * 3. Ids hinted `w` with their last distance `d` (the watcher's hints; callers send them sorted by
 *    `d`). Jobs that stayed in `wait` keep their relative order and the gap between two of them can
 *    only shrink. The script finds ONE of them exactly (the one nearest an end that is still there,
 *    by `LPOS … MAXLEN`, C speed ≈ 21 ns per element passed) and checks every other one at its
 *    predicted distance with one `LINDEX`. When a check fails (a job between them was removed), only
 *    the gap to the previous placed job is read (`LRANGE`), because the job can only be there. Cost:
 *    O(anchor's distance to its end + M) commands. Every position this step gives is verified by
 *    reading the list.
 * 4. Ids still unplaced, when few enough that bisecting each is cheaper than one pass over `wait`:
 *    the rank index. Then `EXISTS` on the job hash, `ZSCORE delayed | waiting-children | completed |
 *    failed` and `LPOS active` find the jobs that are NOT in `wait` (O(1) each, O(active) for the
 *    last), so those never cause a scan.
 * 5. The rest is in `wait`. With at most `lposIds` of them: `LPOS` each from both ends in turn with
 *    a growing `MAXLEN` (1024, ×4, … up to `scanLimit`), about 2.7 × its distance to the nearer end
 *    at C speed (≈ 1.5–3 ms for a job in the middle of 100k). With more: one pass reads the list in
 *    `chunk`-sized `LRANGE` windows alternately from both ends and stops as soon as every id is found:
 *    O(min(N, the largest distance of an id to its nearer end)) elements at ≈ 0.2–0.4 µs each in Lua.
 * Lua reads (steps 3 and 5) stop after `scanLimit` elements; ids not found by then answer `u`
 * (queued, position unknown: deeper than the budget from both ends). The caller shows no position
 * for them rather than a guess.
 *
 * Measured costs (one cold lookup, 1,000 watched jobs, the live ticker) are in bench/README.md §7.
 *
 * KEYS[1]  wait            KEYS[2]  prioritized        KEYS[3]  meta        KEYS[4]  limiter
 * KEYS[5]  delayed         KEYS[6]  waiting-children   KEYS[7]  active
 * KEYS[8]  completed       KEYS[9]  failed
 * KEYS[10] rank index zset KEYS[11] rank index entries KEYS[12] rank index state
 * KEYS[12+i] the hash of the i-th job
 * ARGV[1]  scanLimit: most elements read with LRANGE, and the MAXLEN of each LPOS
 * ARGV[2]  lposIds: with at most this many ids left for step 5, LPOS each instead of one pass
 * ARGV[3]  chunk: LRANGE window size
 * ARGV[4]  maxActive: most active jobs whose `processedOn` is read (for ETAs)
 * ARGV[5]  indexChunk: most elements the rank index numbers per call; 0 = no index (not read, not kept)
 * then 3 ARGV per id: the BullMQ job id, the hint kind (`w`, `p` or ``), the hinted distance (or ``)
 *
 * Answer: `{W, P, paused (0|1), rateLimitTtlMs (0 when not limited), elementsRead, A (LLEN active),
 * indexState (0 off, 1 building, 2 complete), indexHits (ids placed by the index), indexNumbered
 * (elements numbered by this call), k, then k processedOn values of active jobs (at most maxActive,
 * read by `HGET` on the job hashes, which share the queue's slot), then per id: kind, value}` with
 * kind `w` (value = distance from the right end), `p` (value = ZRANK), `d` delayed (value = run-at
 * epoch ms), `c` waiting-children, `a` active, `f` completed or failed, `x` no such job, `u` in `wait`
 * beyond the budget.
 *
 * All keys are the queue's own (`<prefix>:<queue>:…`), so they share BullMQ's hash tag on Cluster;
 * the job hashes the index reads (`<prefix>:<queue>:<id>`) too.
 */
import { bullKeys, rankIndexKeys } from '../keys.js';
import { luaScript, type ScriptCall } from '../scripts.js';

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
local indexChunk = tonumber(ARGV[5])
local HEAD = 5
local FIRST_JOB_KEY = 12
local n = (#ARGV - HEAD) / 3
local base = string.sub(waitKey, 1, #waitKey - 4)

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
  local b = HEAD + (i - 1) * 3
  ids[i] = ARGV[b + 1]
  hintKind[i] = ARGV[b + 2]
  hintD[i] = tonumber(ARGV[b + 3])
end


-- ## The rank index (see the module comment)
local idxZ, idxT, idxM = KEYS[10], KEYS[11], KEYS[12]
local NEG = -math.huge
local idxState = 0      -- 0 off, 1 building, 2 complete
local idxHits = 0
local idxNumbered = 0

local function fmt(x) return string.format('%d', x) end

-- The job's tag: changes when it leaves wait and comes back (see the module comment).
local function tagOf(id)
  local h = rcall('HMGET', base .. id, 'timestamp', 'processedOn', 'ats')
  return (h[1] or '') .. ',' .. (h[2] or '') .. ',' .. (h[3] or '')
end

-- The job's order number, or nil when it has none (or, with checkTag, an old one).
local function numberOf(id, checkTag)
  local e = rcall('HGET', idxT, id)
  if not e then return nil end
  local sep = string.find(e, '|', 1, true)
  if not sep then return nil end
  if checkTag and string.sub(e, sep + 1) ~= tagOf(id) then return nil end
  return tonumber(string.sub(e, 1, sep - 1))
end

-- Numbers items[first..last]: items[j] gets numberAt(j).
local function assign(items, first, last, numberAt)
  local z, h = {}, {}
  for j = first, last do
    local s = fmt(numberAt(j))
    z[#z + 1] = s; z[#z + 1] = items[j]
    h[#h + 1] = items[j]; h[#h + 1] = s .. '|' .. tagOf(items[j])
    if #z >= 1000 then rcall('ZADD', idxZ, unpack(z)); rcall('HSET', idxT, unpack(h)); z, h = {}, {} end
  end
  if #z > 0 then rcall('ZADD', idxZ, unpack(z)); rcall('HSET', idxT, unpack(h)) end
  idxNumbered = idxNumbered + math.max(0, last - first + 1)
end

-- Drops at most 'limit' entries numbered within (minArg, maxArg): jobs no longer in wait.
local function prune(minArg, maxArg, limit)
  local gone = rcall('ZRANGEBYSCORE', idxZ, minArg, maxArg, 'LIMIT', 0, limit)
  for j = 1, #gone, 1000 do
    local part = { unpack(gone, j, math.min(j + 999, #gone)) }
    rcall('ZREM', idxZ, unpack(part)); rcall('HDEL', idxT, unpack(part))
  end
end

-- The elements at distances a..b (inclusive, 0-based) from the right end (fromRight) or the left
-- end, nearest the end first.
local function readEnd(fromRight, a, b)
  if not fromRight then return rcall('LRANGE', waitKey, a, b) end
  local got = rcall('LRANGE', waitKey, -(b + 1), -(a + 1))
  local out = {}
  for j = #got, 1, -1 do out[#out + 1] = got[j] end
  return out
end

-- How many elements at one end are new to the index: it walks from the end to the first element
-- with a current number that is in order with its inner neighbour (lower toward the left end), and
-- answers that element's distance and number; W when every element is new; nil after 'limit' new
-- ones. Reads windows of 2, 16, 128, … elements.
local function newAtEnd(fromRight, limit)
  local buf, size = {}, 2
  local function at(d)
    while d >= #buf and #buf < W do
      local got = readEnd(fromRight, #buf, math.min(W - 1, #buf + size - 1))
      for j = 1, #got do buf[#buf + 1] = got[j] end
      size = size * 8
    end
    return buf[d + 1]
  end
  local d = 0
  while d < W and d <= limit do
    local s = numberOf(at(d), true)
    if s then
      if d == W - 1 then return d, s end
      local s2 = numberOf(at(d + 1), false)
      if s2 and ((fromRight and s2 < s) or (not fromRight and s2 > s)) then return d, s end
    end
    d = d + 1
  end
  if d >= W then return W, nil end
  return nil, nil
end

-- The index from the left of 'id', numbered 's', found by bisecting wait between indexes a and b.
-- Elements with no current number count as lower than every number ('low', while the index is built
-- toward the producer end) or higher (toward the consumer end). nil when the job is not where its
-- number says.
local function bisect(id, s, checkTag, a, b, low)
  local missing = low and NEG or -NEG
  while a <= b do
    local m = math.floor((a + b) / 2)
    local e
    if m < W / 2 then e = rcall('LINDEX', waitKey, m) else e = rcall('LINDEX', waitKey, m - W) end
    if e == id then return m end
    local se = (e and numberOf(e, checkTag)) or missing
    if se < s then a = m + 1 elseif se > s then b = m - 1 else return nil end
  end
  return nil
end

-- The index from the left of the numbered block's edge: its lowest ('low') or highest number that
-- is in wait; nil when none is found. Entries of jobs that left are dropped on the way: those whose
-- tag changed (taken by a worker, removed) cost O(1) each, at most a chunk of them; a job whose
-- number is current but is not in wait costs a bisection, at most 4 of them.
local function edgeOf(low)
  local misses = 0
  for _ = 1, indexChunk do
    local top
    if low then top = rcall('ZRANGE', idxZ, 0, 0, 'WITHSCORES') else top = rcall('ZREVRANGE', idxZ, 0, 0, 'WITHSCORES') end
    if #top == 0 then return nil end
    local c, s = top[1], tonumber(top[2])
    if numberOf(c, true) == s then
      local at = bisect(c, s, true, 0, W - 1, low)
      if at then return at end
      misses = misses + 1
    end
    rcall('ZREM', idxZ, c); rcall('HDEL', idxT, c)
    if misses >= 4 then return nil end
  end
  return nil
end

-- The sync. 'mode': C complete; L building toward the producer end (every job not numbered yet sits
-- on the left of the numbered block); R building toward the consumer end (on its right).
local idxMode = nil
if indexChunk > 0 then
  if W == 0 then
    if rcall('EXISTS', idxM) == 1 then rcall('UNLINK', idxZ, idxT, idxM) end
  else
    local st = rcall('HMGET', idxM, 'lo', 'hi', 'mode')
    local lo, hi, mode = tonumber(st[1]), tonumber(st[2]), st[3]
    local was = { lo, hi, mode }
    local fresh = lo == nil or hi == nil or (mode ~= 'C' and mode ~= 'L' and mode ~= 'R')
    -- Too many entries of jobs that left: start afresh.
    if not fresh and rcall('ZCARD', idxZ) > 2 * W + 4 * indexChunk then fresh = true end
    -- Building, and the end it builds toward holds a current number: that side is done.
    if not fresh and mode == 'R' and numberOf(rcall('LINDEX', waitKey, -1), true) then mode = 'C' end
    if not fresh and mode == 'L' and numberOf(rcall('LINDEX', waitKey, 0), true) then mode = 'C' end
    if not fresh and mode ~= 'R' then
      -- The consumer end: jobs put in front (LIFO, released parents, stalled, rate-limit put-backs).
      local kR, sR = newAtEnd(true, indexChunk)
      if kR == nil and mode == 'C' then
        mode = 'R'
      elseif kR == nil or kR >= W then
        fresh = true
      else
        if sR < hi then prune('(' .. fmt(sR), '+inf', 4 * indexChunk) end
        if kR > 0 then
          local items = readEnd(true, 0, kR - 1)
          local h0 = hi
          assign(items, 1, kR, function(j) return h0 + kR - j + 1 end)
          hi = hi + kR
        end
      end
    end
    if not fresh and mode ~= 'L' then
      -- The producer end: new jobs, promoted delayed jobs, retries. Complete, past 64 new jobs (an
      -- addBulk) numbering from the block's edge is cheaper than walking on.
      local kL, sL = newAtEnd(false, mode == 'C' and math.min(64, indexChunk) or indexChunk)
      if kL == nil and mode == 'C' then
        mode = 'L'
      elseif kL == nil or kL >= W then
        fresh = true
      else
        if sL > lo then prune('-inf', '(' .. fmt(sL), 4 * indexChunk) end
        if kL > 0 then
          local items = readEnd(false, 0, kL - 1)
          local l0 = lo
          assign(items, 1, kL, function(j) return l0 - (kL - j + 1) end)
          lo = lo - kL
        end
      end
    end
    if fresh then
      -- Number the producer end's chunk; the rest is numbered toward the consumer end, which workers
      -- shorten meanwhile.
      rcall('UNLINK', idxZ, idxT)
      local m = math.min(W, indexChunk)
      local items = rcall('LRANGE', waitKey, 0, m - 1)
      assign(items, 1, m, function(j) return j end)
      lo, hi = 1, m
      mode = m == W and 'C' or 'R'
    elseif mode == 'L' then
      local edge = edgeOf(true)
      if edge then
        local first = math.max(0, edge - indexChunk)
        if edge > first then
          local items = rcall('LRANGE', waitKey, first, edge - 1)
          local l0, count = lo, edge - first
          assign(items, 1, count, function(j) return l0 - (count - j + 1) end)
          lo = lo - count
        end
        if first == 0 then mode = 'C' end
      else
        lo = nil
      end
    elseif mode == 'R' then
      local edge = edgeOf(false)
      if edge then
        local last = math.min(W - 1, edge + indexChunk)
        if last > edge then
          local items = rcall('LRANGE', waitKey, edge + 1, last)
          local h0 = hi
          assign(items, 1, last - edge, function(j) return h0 + j end)
          hi = hi + (last - edge)
        end
        if last == W - 1 then mode = 'C' end
      else
        lo = nil
      end
    end
    if lo == nil then
      rcall('DEL', idxM)
    else
      if lo ~= was[1] or hi ~= was[2] or mode ~= was[3] then
        rcall('HSET', idxM, 'lo', fmt(lo), 'hi', fmt(hi), 'mode', mode)
      end
      idxMode = mode
      idxState = mode == 'C' and 2 or 1
    end
  end
end

-- Places ids[i] by the rank index; false when it has no current number or is not where it says.
-- Complete, every element of wait is in the zset, besides 'ZCARD - W' entries of jobs that left: a
-- job's index from the left is between 'ZRANK - (ZCARD - W)' and 'ZRANK', so with no such entries
-- one LINDEX finds it. Building, the whole list is bisected.
local idxMiss = {}
local idxExtra = nil
local function fromIndex(i)
  local s = numberOf(ids[i], true)
  if not s then return false end
  local m
  if idxState == 2 then
    local r = rcall('ZRANK', idxZ, ids[i])
    if r then
      if idxExtra == nil then idxExtra = math.max(0, rcall('ZCARD', idxZ) - W) end
      m = bisect(ids[i], s, false, math.max(0, r - idxExtra), math.min(W - 1, r))
    end
  else
    m = bisect(ids[i], s, true, 0, W - 1, idxMode == 'L')
  end
  if m then
    kind[i] = 'w'; val[i] = W - 1 - m; idxHits = idxHits + 1
    return true
  end
  idxMiss[i] = true
  return false
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
  if rcall('EXISTS', KEYS[FIRST_JOB_KEY + i]) == 0 then kind[i] = 'x'; val[i] = 0; return true end
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

-- Step 4: ids not placed yet. One pass reads up to W elements (≈ 0.3 µs each); a command costs about
-- 5 elements read. An id costs the index 4 commands plus 2 per probe: log2(ZCARD - W + 1) + 1 probes
-- when complete, log2 W + 2 (and a tag read each) while building. Use it when cheaper than the pass
-- (or when LPOS would be used).
local unplaced = 0
for i = 1, n do if kind[i] == nil then unplaced = unplaced + 1 end end
local log2 = function(x) return math.log(x) / math.log(2) end
local useIndex = false
if idxState == 2 then
  idxExtra = math.max(0, rcall('ZCARD', idxZ) - W)
  useIndex = unplaced <= lposIds or unplaced * (4 + 2 * (log2(idxExtra + 1) + 1)) * 5 <= W
elseif idxState == 1 then
  useIndex = unplaced <= lposIds or unplaced * (4 + 3 * (log2(W) + 2)) * 5 <= W
end
local pending = {}
for i = 1, n do
  if kind[i] == nil then
    if not zranked[i] and tryPrioritized(i) then
      -- placed in prioritized
    elseif useIndex and fromIndex(i) then
      -- placed by the rank index
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

-- A job the index placed wrongly but that is in wait: the index is broken; the next call starts afresh.
for i = 1, n do
  if idxMiss[i] and kind[i] == 'w' then rcall('DEL', idxM); break end
end

-- The jobs running now and when they started (BullMQ processedOn), for ETAs: O(min(active, maxActive)).
local A = rcall('LLEN', KEYS[7])
local starts = {}
if A > 0 and maxActive > 0 then
  local running = rcall('LRANGE', KEYS[7], 0, maxActive - 1)
  for j = 1, #running do
    local at = tonumber(rcall('HGET', base .. running[j], 'processedOn'))
    if at then starts[#starts + 1] = at end
  end
end

local out = {W, P, paused, limited, examined, A, idxState, idxHits, idxNumbered, #starts}
for j = 1, #starts do out[#out + 1] = starts[j] end
for i = 1, n do
  out[#out + 1] = kind[i] or 'u'
  out[#out + 1] = val[i] or 0
end
return out
`,
);

/** One job {@link queuePositionsScript} places, with the watcher's hint when it has one. */
export interface QueuePositionsJob {
  /** The BullMQ job id (its hash is KEYS[12+i]). */
  bullId: string;
  /** Where the job was last seen: `wait` at a distance from the right end, or `prioritized`. */
  hint?: { kind: 'wait'; distance: number } | { kind: 'prioritized' };
}

/** The named arguments of {@link queuePositionsScript} (see the module comment). */
export interface QueuePositionsArgs {
  /** BullMQ's key prefix: KEYS[1..9] are the queue's own keys, KEYS[10..12] its rank index. */
  prefix: string;
  queueName: string;
  /** ARGV[1]. */
  scanLimit: number;
  /** ARGV[2]. */
  lposIds: number;
  /** ARGV[3]. */
  chunk: number;
  /** ARGV[4]. */
  maxActive: number;
  /** ARGV[5]: 0 = no rank index. */
  indexChunk: number;
  /** The jobs, in the order the script takes them (wait hints sorted by distance: the caller sorts). */
  jobs: readonly QueuePositionsJob[];
}

/** Encodes {@link QueuePositionsArgs} as the KEYS/ARGV of {@link queuePositionsScript}. */
export function queuePositionsCall(a: QueuePositionsArgs): ScriptCall {
  const bull = bullKeys(a.prefix, a.queueName);
  const keys = [
    bull.wait,
    bull.prioritized,
    bull.meta,
    bull.limiter,
    bull.delayed,
    bull.waitingChildren,
    bull.active,
    bull.completed,
    bull.failed,
    ...rankIndexKeys(a.prefix, a.queueName),
  ];
  const args: (string | number)[] = [a.scanLimit, a.lposIds, a.chunk, a.maxActive, a.indexChunk];
  for (const { bullId, hint } of a.jobs) {
    keys.push(bull.job(bullId));
    args.push(
      bullId,
      hint === undefined ? '' : hint.kind === 'wait' ? 'w' : 'p',
      hint?.kind === 'wait' ? hint.distance : '',
    );
  }
  return { script: queuePositionsScript, keys, args };
}
