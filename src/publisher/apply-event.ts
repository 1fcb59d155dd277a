/**
 * Applies one source event to one job: read the snapshot, reduce, commit with the event's stream id.
 * Idempotent by source event (a snapshot that already applied this id or a later one is left alone)
 * and safe under concurrency (a moved snapshot version makes the commit retry on fresh state).
 */
import type { SeennContext } from '../context.js';
import { eventNameForStatus } from '../model/events.js';
import { isTerminal } from '../model/job.js';
import { createRecord, type BullJobFacts } from '../model/reducer.js';
import { reduce } from '../model/reducer.js';
import { stableStringify, visiblyDifferent, type JobRecord } from '../model/record.js';
import { compareStreamIds, type SourceEvent } from '../model/source-event.js';
import { SeennError } from '../errors.js';
import type { JobChange, VersionedRecord } from '../store/job-store.js';
import { recordCompletion, type Completion } from '../position/index.js';
import type { JobResolver, TrackedJob } from './job-resolver.js';

/** What one application did. */
export type ApplyOutcome = 'committed' | 'unchanged' | 'duplicate' | 'untracked';

const MAX_CONFLICT_RETRIES = 50;

/** The state a job's first snapshot starts in, given the first event seen for it. */
function initialState(event: SourceEvent): BullJobFacts['state'] {
  switch (event.kind) {
    case 'delayed':
      return 'delayed';
    case 'waiting-children':
      return 'waiting-children';
    default:
      return 'waiting';
  }
}

/**
 * Applies `events` (entry `sourceId` of `queueName`'s events stream, or a re-sync's synthetic
 * sequence stamped with one stream id) to the BullMQ job `bullId`.
 * `prepare` may adjust the current record before the event is reduced (re-sync uses it to align the
 * attempt counter with BullMQ's).
 */
export async function applySourceEvent(
  ctx: SeennContext,
  queueName: string,
  resolver: JobResolver,
  bullId: string,
  sourceId: string,
  events: SourceEvent | readonly SourceEvent[],
  prepare?: (base: JobRecord) => JobRecord,
): Promise<ApplyOutcome> {
  const sequence = Array.isArray(events) ? (events as readonly SourceEvent[]) : [events as SourceEvent];
  const first = sequence[0];
  if (first === undefined) return 'unchanged';
  const tracked = await resolver.resolve(bullId);
  if (tracked === null) return 'untracked';
  for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt += 1) {
    const snapshot = await ctx.store.read(tracked.userId, tracked.seennId);
    if (snapshot !== null) {
      if (snapshot.record.x.queueName !== queueName) return 'untracked';
      if (snapshot.src !== null && compareStreamIds(snapshot.src, sourceId) >= 0) return 'duplicate';
    }
    const base = snapshot?.record ?? (await firstRecord(ctx, queueName, resolver, tracked, bullId, first));
    if (base === null) return 'untracked';
    const change = nextChange(snapshot, prepare ? prepare(base) : base, sequence, sourceId);
    if (change === null) return 'unchanged';
    const result = await ctx.store.commit(tracked.userId, [change]);
    if (result.status === 'stale') return 'duplicate';
    if (result.status === 'ok') {
      await afterCommit(ctx, queueName, resolver, bullId, snapshot, change.record);
      return 'committed';
    }
  }
  throw new SeennError('STORE_ERROR', `job ${tracked.seennId} kept changing under the publisher`, { details: { jobId: tracked.seennId } });
}

/** Builds the record of a job seen for the first time, from its BullMQ hash. */
async function firstRecord(ctx: SeennContext, queueName: string, resolver: JobResolver, tracked: TrackedJob, bullId: string, event: SourceEvent): Promise<JobRecord | null> {
  const origin = await resolver.origin(bullId);
  if (origin === null) return null;
  const { job, descriptor } = origin;
  return createRecord(tracked.seennId, ctx.options.appId, descriptor, {
    queueName,
    bullId,
    createdAtMs: job.timestamp,
    maxAttempts: job.opts.attempts ?? 1,
    state: initialState(event),
  });
}

/** The change to commit, or `null` when the events change nothing at all. */
function nextChange(snapshot: VersionedRecord | null, base: JobRecord, events: readonly SourceEvent[], sourceId: string): JobChange | null {
  const reduced = events.reduce(reduce, base);
  const previous = snapshot?.record ?? null;
  const visible = previous === null || visiblyDifferent(previous.job, reduced.job);
  // An invisible change keeps the old `updatedAt`: clients only see time move when something moved.
  const next: JobRecord = visible || previous === null ? reduced : { job: { ...reduced.job, updatedAt: previous.job.updatedAt }, x: reduced.x };
  if (previous !== null && stableStringify(previous) === stableStringify(next)) return null;
  const change: JobChange = { expectedVersion: snapshot?.version ?? 0, src: sourceId, record: next };
  if (visible) change.event = { name: eventNameForStatus(next.job.status), data: JSON.stringify(next.job) };
  if (previous === null) change.index = true;
  return change;
}

/**
 * After a commit: keeps the queue's set of unfinished jobs current (what a re-sync revisits) and,
 * when a job finished, records it for ETAs (throughput, and the run's duration when it completed).
 */
async function afterCommit(ctx: SeennContext, queueName: string, resolver: JobResolver, bullId: string, snapshot: VersionedRecord | null, next: JobRecord): Promise<void> {
  const key = ctx.keys.liveJobs(queueName);
  if (isTerminal(next.job.status)) {
    await ctx.redis.srem(key, next.job.id);
    resolver.forget(bullId);
    const { job, x } = next;
    const finishedAtMs = Date.parse(job.completedAt ?? job.updatedAt);
    if (job.status !== 'cancelled' && (snapshot === null || !isTerminal(snapshot.record.job.status))) {
      const completion: Completion = { queueName, finishedAtMs, workflowId: job.workflowId ?? job.jobType };
      if (job.status === 'completed' && x.attemptStartedAtMs !== undefined) completion.durationMs = Math.max(0, finishedAtMs - x.attemptStartedAtMs);
      await recordCompletion(ctx.redis, ctx.keys, completion);
    }
  } else if (snapshot === null || snapshot.src === null) {
    // The first event the publisher applies to this job (the producer may have written its snapshot).
    await ctx.redis.sadd(key, next.job.id);
  }
}
