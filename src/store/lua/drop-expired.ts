/** The dropExpired script (see its header); run by `store/job-store.ts` when a read meets expired ids. */
import { luaScript, type ScriptCall } from '../scripts.js';

/**
 * dropExpired: takes job ids out of one of a user's job indexes (sorted sets), each only if its
 * snapshot still does not exist — a reader saw it missing, but a job created with the same id since
 * (and added to the index by its first commit) must stay listed.
 *
 * KEYS[1]        the index
 * KEYS[2..1+n]   the snapshot hash of each id
 * ARGV[1..n]     the job ids, in the order of their snapshot keys
 *
 * Answers the number of ids removed.
 */
export const dropExpiredScript = luaScript(
  'dropExpired',
  `local removed = 0
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[1 + i]) == 0 then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
`,
);

/** Encodes a {@link dropExpiredScript} call: `ids` out of `index`, each with its snapshot key. */
export function dropExpiredCall(index: string, expired: readonly { id: string; snapshot: string }[]): ScriptCall {
  return {
    script: dropExpiredScript,
    keys: [index, ...expired.map(({ snapshot }) => snapshot)],
    args: expired.map(({ id }) => id),
  };
}
