/** The syncIds script (see its header); run by `store/job-store.ts` for a fresh stream's `job.sync`. */
import { luaScript, type ScriptCall } from '../scripts.js';

/**
 * syncIds: the ids of the jobs a fresh stream syncs, from a user's job indexes, in one command.
 *
 * KEYS[1]   the user's finished-job index (its member '' scores since when it is complete)
 * KEYS[2]   the user's unfinished-job index
 * KEYS[3]   the user's job index
 * ARGV[1]   finishedSinceMs: the jobs that finished at or after this instant (epoch ms) are wanted
 * ARGV[2]   limit: at most this many ids of each index
 *
 * Answers {0} when the indexes cannot answer for ARGV[1] (the finished-job index lacks '' or is
 * trusted only from a later instant, see `apply-changes.ts`) and the user has jobs: the caller reads
 * the job index instead. Else {1, open,
 * finished}: up to `limit` unfinished job ids (newest first) and up to `limit` + 1 ids of jobs that
 * finished at or after ARGV[1] (the latest to finish first; '' may be among them, the caller drops it).
 * A user with no job index at all has nothing to sync: {1, {}, {}}.
 */
export const syncIdsScript = luaScript(
  'syncIds',
  `local since = redis.call('ZSCORE', KEYS[1], '')
if not since then
  if redis.call('EXISTS', KEYS[3]) == 0 then return {1, {}, {}} end
  return {0}
end
if tonumber(since) > tonumber(ARGV[1]) then return {0} end
local limit = tonumber(ARGV[2])
return {
  1,
  redis.call('ZREVRANGE', KEYS[2], 0, limit - 1),
  redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', ARGV[1], 'LIMIT', 0, limit + 1),
}
`,
);

/** The named arguments of {@link syncIdsScript}. */
export interface SyncIdsArgs {
  /** KEYS[1]. */
  finishedJobs: string;
  /** KEYS[2]. */
  openJobs: string;
  /** KEYS[3]. */
  userJobs: string;
  /** ARGV[1]. */
  finishedSinceMs: number;
  /** ARGV[2]. */
  limit: number;
}

/** Encodes {@link SyncIdsArgs} as the KEYS/ARGV of {@link syncIdsScript}. */
export function syncIdsCall(a: SyncIdsArgs): ScriptCall {
  return {
    script: syncIdsScript,
    keys: [a.finishedJobs, a.openJobs, a.userJobs],
    args: [a.finishedSinceMs, a.limit],
  };
}
