/**
 * Warming the publisher's caches before a set of jobs is applied: the identities of the BullMQ ids
 * not known yet, then the snapshots not cached yet, each in few socket writes instead of one round
 * trip per job on the apply path.
 */
import type { JobResolver, TrackedJob } from './job-resolver.js';
import { runLimited } from './run-limited.js';
import type { SnapshotCache } from './snapshot-cache.js';

/**
 * Resolves `bullIds` (their owners asked at once, then `concurrency` at once what is left), then reads
 * the snapshots of those tracked (all at once). Only a speed-up: applying reads whatever is still
 * missing, and every commit is version-checked. Never rejects: errors are left to applying, which
 * isolates them per job.
 */
export async function warmCaches(
  resolver: JobResolver,
  snapshots: SnapshotCache,
  bullIds: readonly string[],
  concurrency: number,
): Promise<void> {
  await resolver.prefetchOwners(bullIds).catch(() => undefined);
  const tracked: TrackedJob[] = [];
  await runLimited(
    bullIds.map((bullId) => async () => {
      const job = await resolver.resolve(bullId).catch(() => null);
      if (job !== null) tracked.push(job);
    }),
    concurrency,
  );
  await snapshots.prefetch(tracked.map(({ userId, seennId }) => ({ userId, jobId: seennId }))).catch(() => undefined);
}
