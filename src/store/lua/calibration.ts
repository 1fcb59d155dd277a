/**
 * The ETA calibration scripts (see their headers) and their argument encoders; run by
 * `position/calibration.ts`. All keys of one call are in the queue's slot.
 */
import { luaScript, type ScriptCall } from '../scripts.js';

/**
 * recordEtaPredictions: records the ETA predictions of some jobs of ONE queue (first and mid-wait; at
 * most one per read and per slot, so many reads at one moment record one).
 *
 * KEYS[1]  hash: job id → predictions (`"<c>,<madeAtMs>,<endMs>,<kind>"`, joined by `;`;
 *          kind 0 waiting, 1 running), or `done` once scored (a read that raced the completion then
 *          records nothing; the marker goes with the job cap or the TTL)
 * KEYS[2]  sorted set: job id → its first prediction's time
 * KEYS[3..] per job (in ARGV order): its BullMQ job hash. A job BullMQ has finished (`finishedOn`) or
 *          no longer holds records nothing: its ETA was computed before it finished, and the publisher
 *          may have scored it already (it scores only after BullMQ finished the job), which would
 *          leave this prediction unscored for good. A finished job answers "no more"; a job with no
 *          hash answers slot 0 (the next read may try again: it may not be added yet).
 * ARGV[1]  most jobs kept (the oldest beyond are dropped)
 * ARGV[2]  TTL of both keys, ms
 * ARGV[3]  predictions per job (PREDICTIONS_PER_JOB): the first, then one per later slot of its time left
 * then 5 ARGV per job: job id, model confidence, made at (epoch ms), predicted end (epoch ms), kind
 *
 * Answers, per job, `{ firstMadeAtMs, firstEndMs, nextSlot }` flattened (`nextSlot` ≥ ARGV[3]: no more).
 */
export const recordEtaPredictionsScript = luaScript(
  'recordEtaPredictions',
  `
local out = {}
local slots = tonumber(ARGV[3])
for i = 4, #ARGV, 5 do
  local id = ARGV[i]
  local entry = ARGV[i + 1] .. ',' .. ARGV[i + 2] .. ',' .. ARGV[i + 3] .. ',' .. ARGV[i + 4]
  local v = redis.call('HGET', KEYS[1], id)
  local bull = nil
  if v ~= 'done' then bull = redis.call('HMGET', KEYS[3 + (i - 4) / 5], 'timestamp', 'finishedOn') end
  if v == 'done' or (bull and bull[2]) then
    out[#out + 1] = ARGV[i + 2]
    out[#out + 1] = ARGV[i + 3]
    out[#out + 1] = slots
  elseif not bull[1] then
    out[#out + 1] = ARGV[i + 2]
    out[#out + 1] = ARGV[i + 3]
    out[#out + 1] = 0
  elseif not v then
    redis.call('HSET', KEYS[1], id, entry)
    redis.call('ZADD', KEYS[2], ARGV[i + 2], id)
    local nextSlot = 1
    if tonumber(ARGV[i + 3]) <= tonumber(ARGV[i + 2]) then nextSlot = slots end
    out[#out + 1] = ARGV[i + 2]
    out[#out + 1] = ARGV[i + 3]
    out[#out + 1] = nextSlot
  else
    local m0, e0 = string.match(v, '^[^,]+,([^,]+),([^,;]+)')
    m0 = tonumber(m0)
    e0 = tonumber(e0)
    local nextSlot = slots
    if e0 > m0 then
      local slotOf = function(t) return math.min(slots - 1, math.floor((t - m0) * slots / (e0 - m0))) end
      local last = slotOf(tonumber(string.match(v, '[^,;]+,([^,;]+),[^,;]+,[^,;]+$')))
      local now = slotOf(tonumber(ARGV[i + 2]))
      if now > last then
        redis.call('HSET', KEYS[1], id, v .. ';' .. entry)
        last = now
      end
      nextSlot = last + 1
    end
    out[#out + 1] = m0
    out[#out + 1] = e0
    out[#out + 1] = nextSlot
  end
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[1])
while over > 0 do
  local n = math.min(over, 1000)
  local old = redis.call('ZRANGE', KEYS[2], 0, n - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - 1)
  over = over - n
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return out
`,
);

/** One job's prediction, as {@link recordEtaPredictionsCall} takes it. */
export interface PredictionArg {
  jobId: string;
  /** Its BullMQ job hash (`keys.bullJob`): a job BullMQ finished records nothing. */
  bullJobKey: string;
  /** The model's confidence, 0–1. */
  confidence: number;
  /** When the prediction was made, epoch ms. */
  madeAtMs: number;
  /** The predicted end, epoch ms. */
  endMs: number;
  /** 0 waiting (queued or delayed), 1 running. */
  kind: 0 | 1;
}

/** The named arguments of {@link recordEtaPredictionsScript}. */
export interface RecordEtaPredictionsArgs {
  /** KEYS[1]: the queue's predictions hash. */
  predictions: string;
  /** KEYS[2]: its sorted set of first-prediction times. */
  times: string;
  /** ARGV[1]: most jobs kept. */
  maxJobs: number;
  /** ARGV[2]: TTL of both keys, ms. */
  ttlMs: number;
  /** ARGV[3]: predictions per job. */
  predictionsPerJob: number;
  /** 5 ARGV per job, and KEYS[3..]: their BullMQ job hashes. */
  jobs: readonly PredictionArg[];
}

/** Encodes a {@link recordEtaPredictionsScript} call. */
export function recordEtaPredictionsCall(a: RecordEtaPredictionsArgs): ScriptCall {
  const args: (string | number)[] = [a.maxJobs, a.ttlMs, a.predictionsPerJob];
  for (const job of a.jobs) args.push(job.jobId, job.confidence, job.madeAtMs, job.endMs, job.kind);
  return {
    script: recordEtaPredictionsScript,
    keys: [a.predictions, a.times, ...a.jobs.map((job) => job.bullJobKey)],
    args,
  };
}

/**
 * scoreEtaPredictions: scores (or drops) the recorded predictions of some finished jobs of ONE queue,
 * in the order given (each scored prediction decays the earlier ones, as one call per job would).
 * A queue without recorded predictions costs one EXISTS.
 *
 * KEYS[1]  the predictions hash, KEYS[2] its sorted set (as recordEtaPredictions)
 * KEYS[3]  hash: the queue's calibration histogram (`n<b>`, `h<b>`, `s<b>`; b = kind · buckets + bucket)
 * ARGV[1]  the weight every earlier score keeps per new one (1 − 1/window)
 * ARGV[2]  TTL of the histogram, ms
 * ARGV[3]  buckets
 * ARGV[4]  the band (0.2)
 * then 3 ARGV per job: job id, when it finished (epoch ms), '1' completed (score) or '0' failed (drop)
 *
 * Answers the number of predictions scored.
 */
export const scoreEtaPredictionsScript = luaScript(
  'scoreEtaPredictions',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ids = {}
for i = 5, #ARGV, 3 do ids[#ids + 1] = ARGV[i] end
local values = redis.call('HMGET', KEYS[1], unpack(ids))
local found = {}
local seen = {}
for j = 1, #ids do
  if values[j] and values[j] ~= 'done' and not seen[ids[j]] then
    seen[ids[j]] = true
    found[#found + 1] = ids[j]
  else
    values[j] = false
  end
end
if #found == 0 then return 0 end
local marks = {}
for _, id in ipairs(found) do
  marks[#marks + 1] = id
  marks[#marks + 1] = 'done'
end
redis.call('HSET', KEYS[1], unpack(marks))
local keep = tonumber(ARGV[1])
local buckets = tonumber(ARGV[3])
local band = tonumber(ARGV[4])
local counts = nil
local scored = 0
for j = 1, #ids do
  local v = values[j]
  local i = 5 + (j - 1) * 3
  if v and ARGV[i + 2] == '1' then
    local finished = tonumber(ARGV[i + 1])
    for c, m, e, k in string.gmatch(v, '([^,;]+),([^,;]+),([^,;]+),([^,;]+)') do
      c = tonumber(c)
      m = tonumber(m)
      e = tonumber(e)
      k = tonumber(k)
      if c and m and e and k and e > m and m < finished then
        if not counts then
          counts = {}
          local flat = redis.call('HGETALL', KEYS[3])
          for f = 1, #flat, 2 do counts[flat[f]] = tonumber(flat[f + 1]) or 0 end
        end
        for field, value in pairs(counts) do counts[field] = value * keep end
        local b = k * buckets + math.min(buckets - 1, math.max(0, math.floor(c * buckets + 1e-9)))
        local hit = 0
        if math.abs(finished - e) <= band * (e - m) then hit = 1 end
        counts['n' .. b] = (counts['n' .. b] or 0) + 1
        counts['h' .. b] = (counts['h' .. b] or 0) + hit
        counts['s' .. b] = (counts['s' .. b] or 0) + c
        scored = scored + 1
      end
    end
  end
end
if scored > 0 then
  local flat = {}
  for field, value in pairs(counts) do
    flat[#flat + 1] = field
    flat[#flat + 1] = string.format('%.6g', value)
  end
  redis.call('HSET', KEYS[3], unpack(flat))
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return scored
`,
);

/** One finished job, as {@link scoreEtaPredictionsCall} takes it. */
export interface OutcomeArg {
  jobId: string;
  /** When it finished, epoch ms. */
  finishedAtMs: number;
  /** Failed for good: dropped, not scored. */
  failed: boolean;
}

/** The named arguments of {@link scoreEtaPredictionsScript}. */
export interface ScoreEtaPredictionsArgs {
  /** KEYS[1]: the queue's predictions hash. */
  predictions: string;
  /** KEYS[2]: its sorted set. */
  times: string;
  /** KEYS[3]: the queue's calibration histogram. */
  histogram: string;
  /** ARGV[1]: the weight every earlier score keeps per new one (1 − 1/window). */
  keepWeight: number;
  /** ARGV[2]: TTL of the histogram, ms. */
  ttlMs: number;
  /** ARGV[3]. */
  buckets: number;
  /** ARGV[4]: the band of a hit (0.2). */
  band: number;
  /** 3 ARGV per job, scored in this order. */
  outcomes: readonly OutcomeArg[];
}

/** Encodes a {@link scoreEtaPredictionsScript} call. */
export function scoreEtaPredictionsCall(a: ScoreEtaPredictionsArgs): ScriptCall {
  const args: (string | number)[] = [a.keepWeight, a.ttlMs, a.buckets, a.band];
  for (const o of a.outcomes) args.push(o.jobId, Math.round(o.finishedAtMs), o.failed ? '0' : '1');
  return { script: scoreEtaPredictionsScript, keys: [a.predictions, a.times, a.histogram], args };
}
