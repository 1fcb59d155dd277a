/**
 * Re-sync: when BullMQ trimmed events the publisher had not read yet (a checkpoint older than the
 * stream), the state of the affected jobs is rebuilt from BullMQ's own lists and hashes instead of
 * being silently skipped. Costs O(jobs in the queue's unfinished states + jobs finished since the
 * checkpoint); it runs only when a gap is found.
 */
import type { SeennContext } from '../context.js';
import { parseProgressValue, PROGRESS_MARKER } from '../model/progress.js';
import type { JobRecord } from '../model/record.js';
import type { SourceEvent } from '../model/source-event.js';
import { streamIdTime } from '../model/wire.js';
import { applySourceEvent } from './apply-event.js';
import type { JobResolver } from './job-resolver.js';
import { QueueEffects } from './queue-effects.js';
import { runLimited } from './run-limited.js';
import type { SnapshotCache } from './snapshot-cache.js';
import { warmCaches } from './warm-caches.js';
import {
  bullQueueMembers,
  forgetUnfinishedJob,
  newestEventId,
  readBullJobState,
  unfinishedJobs,
  type BullJobState,
} from '../store/queue-io.js';

type StateHint = 'waiting' | 'delayed' | 'waiting-children' | 'active' | 'completed' | 'failed';

/** Jobs re-synced per chunk (caches warmed and effects written once per chunk). */
const RESYNC_CHUNK = 1_000;

/**
 * Rebuilds the state of every job of `queueName` that may have changed after `checkpointId` and that
 * `owns` accepts (the jobs of the partitions this process holds), stamps the changes with the
 * stream's newest id, and returns that id (where reading resumes) and how many jobs it rebuilt.
 */
export async function resyncQueue(
  ctx: SeennContext,
  queueName: string,
  resolver: JobResolver,
  snapshots: SnapshotCache,
  checkpointId: string,
  concurrency: number,
  owns: (bullId: string) => boolean,
): Promise<{ resumeId: string; jobs: number }> {
  const { redis, keys } = ctx;
  const resumeId = (await newestEventId(redis, keys, queueName)) ?? checkpointId;
  const sinceMs = streamIdTime(checkpointId);

  const hints = new Map<string, StateHint>();
  const lists = await bullQueueMembers(redis, keys, queueName, sinceMs);
  for (const id of lists.waiting) hints.set(id, 'waiting');
  for (const id of lists.delayed) hints.set(id, 'delayed');
  for (const id of lists.waitingChildren) hints.set(id, 'waiting-children');
  for (const id of lists.active) hints.set(id, 'active');
  for (const id of lists.completed) hints.set(id, 'completed');
  for (const id of lists.failed) hints.set(id, 'failed');
  for (const id of hints.keys()) if (!owns(id)) hints.delete(id);

  // Jobs we track as unfinished but that are in none of those lists: gone, or finished earlier.
  // Read `concurrency` at a time: a queue behind by seconds tracks thousands of unfinished jobs.
  const liveIds = await unfinishedJobs(redis, keys, queueName);
  const orphans: string[] = [];
  await runLimited(
    liveIds.map((seennId) => async () => {
      const snapshot = await ctx.store.readById(seennId);
      const bullId = snapshot?.record.x.bullId;
      if (bullId !== undefined && owns(bullId) && !hints.has(bullId)) orphans.push(bullId);
      if (snapshot === null) await forgetUnfinishedJob(redis, keys, queueName, seennId);
    }),
    concurrency,
  );

  // In chunks: each chunk's identities and snapshots are read at once, and its queue-wide effects are
  // written in one pipeline, instead of a few round trips per job.
  const jobs: [string, StateHint | null][] = [...hints.entries()];
  for (const bullId of orphans) jobs.push([bullId, null]);
  for (let start = 0; start < jobs.length; start += RESYNC_CHUNK) {
    const chunk = jobs.slice(start, start + RESYNC_CHUNK);
    await warmCaches(
      resolver,
      snapshots,
      chunk.map(([bullId]) => bullId),
      concurrency,
    );
    const effects = new QueueEffects(ctx, queueName);
    await runLimited(
      chunk.map(
        ([bullId, hint]) =>
          () =>
            resyncJob(ctx, queueName, resolver, snapshots, effects, bullId, hint, resumeId),
      ),
      concurrency,
    );
    await effects.flush();
  }
  return { resumeId, jobs: jobs.length };
}

/**
 * Rebuilds one job from its BullMQ hash; `hint` is the list it was found in (`null`: none). A job
 * nobody sees is skipped before its hash is read (its identity is cached by the chunk's warm-up).
 */
async function resyncJob(
  ctx: SeennContext,
  queueName: string,
  resolver: JobResolver,
  snapshots: SnapshotCache,
  effects: QueueEffects,
  bullId: string,
  hint: StateHint | null,
  resumeId: string,
): Promise<void> {
  if ((await resolver.resolve(bullId)) === null) return;
  const job = await readBullJobState(ctx.redis, ctx.keys, queueName, bullId);
  const at = streamIdTime(resumeId);
  if (job === null) {
    await applySourceEvent(ctx, queueName, resolver, snapshots, bullId, resumeId, { kind: 'removed', at }, { effects });
    return;
  }
  const events = eventsFor(job, hint ?? (job.finishedOn ? (job.failedReason ? 'failed' : 'completed') : 'waiting'), at);
  const attemptsStarted = job.attemptsStarted;
  await applySourceEvent(ctx, queueName, resolver, snapshots, bullId, resumeId, events, {
    effects,
    prepare: (record: JobRecord) => ({
      job: record.job,
      // Align the attempt counter with BullMQ's before replaying `active`, which adds one.
      x: {
        ...record.x,
        attempt: hint === 'active' ? Math.max(0, attemptsStarted - 1) : Math.max(record.x.attempt, attemptsStarted),
      },
    }),
  });
}

/** The synthetic events that bring a record to the state BullMQ holds for `job`. */
function eventsFor(job: BullJobState, hint: StateHint, at: number): SourceEvent[] {
  const progress = parseProgressValue(job.progress);
  switch (hint) {
    case 'waiting':
      return [{ kind: 'waiting', at }];
    case 'delayed':
      return [{ kind: 'delayed', at, runAt: job.timestamp + job.delayMs, attemptsMade: job.attemptsMade }];
    case 'waiting-children':
      return [{ kind: 'waiting-children', at }];
    case 'active':
      return progress === null
        ? [{ kind: 'active', at: job.processedOn ?? at }]
        : [
            { kind: 'active', at: job.processedOn ?? at },
            { kind: 'progress', at, data: job.progress },
          ];
    case 'completed':
      return [{ kind: 'completed', at: job.finishedOn ?? at, returnvalue: job.returnvalue }];
    case 'failed': {
      const events: SourceEvent[] = [];
      // The wrapper's error payload of the last attempt carries the user-facing error code.
      if (progress !== null && PROGRESS_MARKER in progress && progress.error !== undefined)
        events.push({ kind: 'progress', at, data: job.progress });
      events.push({ kind: 'failed', at: job.finishedOn ?? at, reason: job.failedReason ?? '' });
      return events;
    }
  }
}
