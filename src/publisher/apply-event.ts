/**
 * Applies one source event to one job: read the snapshot, reduce, commit with the event's stream id.
 * Idempotent by source event (a snapshot that already applied this id or a later one is left alone)
 * and safe under concurrency (a moved snapshot version makes the commit retry on fresh state).
 *
 * A child's change is committed together with its parent's (same script, CAS on both; see
 * `store/family.ts`). A BullMQ flow child first met here is linked to its flow parent (which may live
 * in another queue; its first snapshot is written then if nobody wrote it yet) at the next free
 * `childIndex`, unless its descriptor names its parent itself.
 */
import type { SeennContext } from '../context.js';
import { finishedAtMs, isTerminal } from '../model/job.js';
import { asParent, settleParent } from '../model/parent.js';
import { createRecord, failedByFlowChild, flowFailureChildKey, reduce, type BullJobFacts } from '../model/reducer.js';
import { jobEventOf, sameJson, visiblyDifferent, type JobRecord } from '../model/record.js';
import type { SourceEvent } from '../model/source-event.js';
import { compareStreamIds } from '../model/wire.js';
import { SeennError } from '../errors.js';
import { withParentChange, type ParentState } from '../store/family.js';
import type { CommitResult, JobChange, VersionedRecord } from '../store/job-store.js';
import { transact, type StepResult, type TransactionOutcome } from '../store/transaction.js';
import type { Completion } from '../position/index.js';
import type { BullRef, JobOrigin, JobResolver, TrackedJob } from './job-resolver.js';
import { QueueEffects, type QueueEffectsDeps } from './queue-effects.js';
import type { SnapshotCache } from './snapshot-cache.js';

/** What applying events uses of the Seenn context (applying with its own queue effects also takes {@link QueueEffectsDeps}). */
export type ApplyDeps = Pick<SeennContext, 'store' | 'output' | 'logger' | 'options'>;

/** What one application did. */
export type ApplyOutcome = 'committed' | 'unchanged' | 'duplicate' | 'untracked';

/** How a job's change reaches its parent. */
interface Family {
  parentJobId: string;
  /** A flow child met for the first time: it takes the next free `childIndex`. */
  assignIndex: boolean;
  /** Writes the parent's first snapshot when there is none yet (a flow parent met through a child). */
  createParent?: () => Promise<JobRecord | null>;
}

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
 * sequence stamped with one stream id) to the BullMQ job `bullId`, reading its snapshot through the
 * publisher's `snapshots` cache.
 * `options.prepare` may adjust the current record before the event is reduced (re-sync uses it to align
 * the attempt counter with BullMQ's). With `options.effects` the queue-wide side effects are gathered
 * there and the caller flushes them; without, they are written before this resolves.
 */
export async function applySourceEvent(
  ctx: ApplyDeps & QueueEffectsDeps,
  queueName: string,
  resolver: JobResolver,
  snapshots: SnapshotCache,
  bullId: string,
  sourceId: string,
  events: SourceEvent | readonly SourceEvent[],
  options: { prepare?: (base: JobRecord) => JobRecord; effects?: QueueEffects } = {},
): Promise<ApplyOutcome> {
  const effects = options.effects ?? new QueueEffects(ctx, queueName);
  const outcome = await applyOne(
    ctx,
    queueName,
    resolver,
    snapshots,
    bullId,
    sourceId,
    events,
    effects,
    options.prepare,
  );
  if (options.effects === undefined) await effects.flush();
  return outcome;
}

/** {@link applySourceEvent}, its queue-wide side effects gathered in `effects` (the caller flushes them). */
async function applyOne(
  ctx: ApplyDeps,
  queueName: string,
  resolver: JobResolver,
  snapshots: SnapshotCache,
  bullId: string,
  sourceId: string,
  events: SourceEvent | readonly SourceEvent[],
  effects: QueueEffects,
  prepare?: (base: JobRecord) => JobRecord,
): Promise<ApplyOutcome> {
  const sequence = Array.isArray(events) ? (events as readonly SourceEvent[]) : [events as SourceEvent];
  const first = sequence[0];
  if (first === undefined) return 'unchanged';
  const tracked = await resolver.resolve(bullId);
  if (tracked === null) return 'untracked';
  const atMs = (sequence[sequence.length - 1] as SourceEvent).at;
  const attempt = (linkable: boolean): Promise<TransactionOutcome<ComputedChange, ApplyOutcome>> =>
    transact<ComputedChange, ApplyOutcome>(ctx.store, {
      userId: tracked.userId,
      jobIds: [tracked.seennId],
      reader: snapshots,
      commit: (_userId, changes) => commitAndCache(ctx, snapshots, tracked, changes),
      plan: async ([read]) => {
        const snapshot = read ?? null;
        if (snapshot !== null) {
          if (snapshot.record.x.queueName !== queueName) return { unchanged: 'untracked' };
          if (snapshot.src !== null && compareStreamIds(snapshot.src, sourceId) >= 0) return { unchanged: 'duplicate' };
        }
        const fresh = snapshot === null ? await firstRecord(ctx, queueName, resolver, tracked, bullId, first) : null;
        const base = snapshot?.record ?? fresh?.record;
        if (base === undefined) return { unchanged: 'untracked' };
        const family = linkable ? (fresh === null ? familyOf(base) : fresh.family) : null;
        const input: AttemptInput = {
          snapshot,
          base: linkable ? base : unlinked(base),
          family,
          sequence,
          sourceId,
          atMs,
        };
        if (prepare !== undefined) input.prepare = prepare;
        return {
          parentJobId: family?.parentJobId ?? null,
          step: (parent) => computeAttempt(ctx, resolver, tracked, input, parent),
        };
      },
    });
  let outcome = await attempt(true);
  if (outcome.status === 'index-taken') {
    // Another job holds the index the descriptor named: show the job on its own rather than not at all.
    ctx.logger.warn(
      { jobId: tracked.seennId, parentJobId: outcome.value.record.job.parent?.parentJobId },
      'child index already taken; the job is tracked without its parent',
    );
    outcome = await attempt(false);
  }
  switch (outcome.status) {
    case 'unchanged':
      return outcome.value;
    case 'duplicate':
      return 'duplicate';
    case 'committed': {
      const computed = outcome.value;
      if (computed.parent !== null) await afterParentEnded(ctx, tracked.userId, computed.parent, computed.changes);
      afterCommit(queueName, resolver, bullId, computed.snapshot, computed.record, effects);
      return 'committed';
    }
    case 'index-taken':
    case 'exhausted':
      throw new SeennError('STORE_ERROR', `job ${tracked.seennId} kept changing under the publisher`, {
        details: { jobId: tracked.seennId },
      });
  }
}

/** One event of a job's events-stream entries, with its entry id. */
export interface JobEvent {
  /** The events-stream entry id. */
  id: string;
  event: SourceEvent;
}

/**
 * Applies several events of ONE job (from one read of its queue's events stream, in order) with one
 * snapshot read and one commit that appends one replay entry per visible change — exactly what
 * applying them one by one would give, in fewer round trips. Jobs of a family (children, parents)
 * and jobs without a snapshot yet take the event-by-event path.
 */
export async function applyJobEvents(
  ctx: ApplyDeps,
  queueName: string,
  resolver: JobResolver,
  snapshots: SnapshotCache,
  bullId: string,
  events: readonly JobEvent[],
  effects: QueueEffects,
): Promise<void> {
  const oneByOne = async (from: readonly JobEvent[]): Promise<void> => {
    for (const { id, event } of from) await applyOne(ctx, queueName, resolver, snapshots, bullId, id, event, effects);
  };
  if (events.length < 2) return oneByOne(events);
  const tracked = await resolver.resolve(bullId);
  if (tracked === null) return undefined;
  const outcome = await transact<BatchedCommit, { pending: readonly JobEvent[] } | null>(ctx.store, {
    userId: tracked.userId,
    jobIds: [tracked.seennId],
    reader: snapshots,
    commit: (_userId, changes) => commitAndCache(ctx, snapshots, tracked, changes),
    plan: ([snapshot]) => batchedChange(queueName, events, snapshot ?? null),
  });
  switch (outcome.status) {
    case 'unchanged':
      return outcome.value === null ? undefined : oneByOne(outcome.value.pending);
    case 'committed':
      return afterCommit(queueName, resolver, bullId, outcome.value.snapshot, outcome.value.record, effects);
    case 'duplicate':
    case 'index-taken':
      // Another publisher moved ahead meanwhile: let each event find out whether it is still new.
      return oneByOne(outcome.value.pending);
    case 'exhausted':
      throw new SeennError('STORE_ERROR', `job ${tracked.seennId} kept changing under the publisher`, {
        details: { jobId: tracked.seennId },
      });
  }
}

/** A batched change: the snapshot it starts from, the record it writes, the events it applies. */
interface BatchedCommit {
  snapshot: VersionedRecord;
  record: JobRecord;
  pending: readonly JobEvent[];
}

/**
 * The one change that applies `events` (of one job, in order) to `snapshot`, or (unchanged) the events
 * to apply one by one instead (a job of a family, or without a snapshot), or `null` (nothing to do).
 */
function batchedChange(
  queueName: string,
  events: readonly JobEvent[],
  snapshot: VersionedRecord | null,
): StepResult<BatchedCommit, { pending: readonly JobEvent[] } | null> {
  if (
    snapshot === null ||
    snapshot.record.x.queueName !== queueName ||
    snapshot.record.job.parent !== undefined ||
    snapshot.record.x.aggregate !== undefined
  )
    return { unchanged: { pending: events } };
  const src = snapshot.src;
  const pending = src === null ? events : events.filter(({ id }) => compareStreamIds(id, src) > 0);
  const last = pending[pending.length - 1];
  if (last === undefined) return { unchanged: null };
  let current = snapshot.record;
  const entries: { name: string; data: string }[] = [];
  // Whether the last entry's payload is `current.job` (no change reduced after it).
  let lastIsCurrent = false;
  for (const { event } of pending) {
    const reduced = reduce(current, event);
    if (visiblyDifferent(current.job, reduced.job)) {
      current = reduced;
      entries.push(jobEventOf(current.job));
      lastIsCurrent = true;
    } else {
      lastIsCurrent = false;
      // An invisible change keeps the old `updatedAt`: clients only see time move when something moved.
      current = { job: { ...reduced.job, updatedAt: current.job.updatedAt }, x: reduced.x };
    }
  }
  if (sameJson(current, snapshot.record)) return { unchanged: null };
  const change: JobChange = { expectedVersion: snapshot.version, src: last.id, record: current };
  if (entries.length > 0) change.events = entries;
  if (lastIsCurrent) change.lastEventIsJob = true;
  return { changes: [change], value: { snapshot, record: current, pending } };
}

/**
 * Commits `changes` of `tracked`'s user and keeps the snapshot cache right: what this commit wrote
 * for `tracked` is remembered; any other snapshot it touched (a parent), and `tracked` itself when
 * the commit did not go through, is read afresh next time.
 */
async function commitAndCache(
  ctx: Pick<ApplyDeps, 'store'>,
  cache: SnapshotCache,
  tracked: TrackedJob,
  changes: readonly JobChange[],
): Promise<CommitResult> {
  let result: CommitResult;
  try {
    result = await ctx.store.commit(tracked.userId, changes);
  } catch (error) {
    for (const change of changes) cache.forget(tracked.userId, change.record.job.id);
    throw error;
  }
  for (const change of changes) {
    const jobId = change.record.job.id;
    if (
      result.status !== 'ok' ||
      jobId !== tracked.seennId ||
      isTerminal(change.record.job.status) ||
      change.src === undefined
    )
      cache.forget(tracked.userId, jobId);
    else
      cache.remember(tracked.userId, jobId, {
        record: change.record,
        version: change.expectedVersion + 1,
        src: change.src,
      });
  }
  return result;
}

/** What {@link computeAttempt} works on. */
interface AttemptInput {
  snapshot: VersionedRecord | null;
  base: JobRecord;
  family: Family | null;
  sequence: readonly SourceEvent[];
  sourceId: string;
  atMs: number;
  prepare?: (base: JobRecord) => JobRecord;
}

/** A change to commit: the job's snapshot it starts from, its next record, its parent as read, all changes. */
interface ComputedChange {
  snapshot: VersionedRecord | null;
  record: JobRecord;
  parent: ParentState | null;
  changes: readonly JobChange[];
}

/**
 * The reduce step of one attempt: the job's next record (and its parent's change; `parent` as read
 * under the parent lock, its first snapshot made here for a flow parent met through a child).
 */
async function computeAttempt(
  ctx: ApplyDeps,
  resolver: JobResolver,
  tracked: TrackedJob,
  input: AttemptInput,
  read: ParentState | null,
): Promise<StepResult<ComputedChange, ApplyOutcome>> {
  const { snapshot, family, sequence, sourceId, atMs, prepare } = input;
  let base = input.base;
  let parent = read;
  if (family !== null) {
    if (parent === null && family.createParent !== undefined) {
      const record = await family.createParent();
      if (record !== null) parent = { record, version: 0 };
    }
    const aggregate = parent?.record.x.aggregate;
    if (family.assignIndex && aggregate !== undefined)
      base = {
        job: { ...base.job, parent: { parentJobId: family.parentJobId, childIndex: aggregate.created } },
        x: base.x,
      };
  }
  let next = reduceEvents(prepare ? prepare(base) : base, sequence);
  const childKey = flowFailureChildKey(snapshot?.record ?? null, next);
  if (childKey !== null) {
    const child = await failedFlowChild(ctx, resolver, tracked.userId, childKey);
    if (child !== undefined) next = failedByFlowChild(next, child, childKey);
  }
  const change = nextChange(snapshot, next, sourceId);
  if (change === null) return { unchanged: 'unchanged' };
  const changes = withParentChange(change, snapshot?.record ?? null, parent, atMs);
  return { changes, value: { snapshot, record: change.record, parent, changes } };
}

/**
 * When a committed child change ended its parent (the parent's last child finished), the parent's
 * output keys take its ended snapshot's TTL, so they live as long as it does. Best effort: logged.
 */
async function afterParentEnded(
  ctx: Pick<ApplyDeps, 'output' | 'logger'>,
  userId: string,
  parent: ParentState,
  changes: readonly JobChange[],
): Promise<void> {
  const next = changes.find((candidate) => candidate.record.job.id === parent.record.job.id);
  if (next === undefined || !isTerminal(next.record.job.status) || isTerminal(parent.record.job.status)) return;
  const parentId = parent.record.job.id;
  await ctx.output
    .expire(userId, parentId)
    .catch((error: unknown) =>
      ctx.logger.warn({ err: error, jobId: parentId }, 'could not give the output of an ended parent its TTL'),
    );
}

/**
 * The record of the child `childKey` names, whose failure made BullMQ fail its flow parent
 * (`model/reducer.ts` {@link flowFailureChildKey}): `null` when it is not tracked (or not `userId`'s),
 * `undefined` when the key names no job of a queue this publisher knows (the parent is left as reduced).
 */
async function failedFlowChild(
  ctx: Pick<ApplyDeps, 'store'>,
  resolver: JobResolver,
  userId: string,
  childKey: string,
): Promise<JobRecord | null | undefined> {
  const ref = resolver.refOfKey(childKey);
  if (ref === null) return undefined;
  const tracked = await resolver.resolveRef(ref);
  if (tracked === null || tracked.userId !== userId) return null;
  return (await ctx.store.read(userId, tracked.seennId))?.record ?? null;
}

/** The family of a job whose snapshot exists: its parent, if it has one. */
function familyOf(record: JobRecord): Family | null {
  const link = record.job.parent;
  return link === undefined ? null : { parentJobId: link.parentJobId, assignIndex: false };
}

/** A job's record without its parent link (when it cannot take the place it asked for). */
function unlinked(record: JobRecord): JobRecord {
  const { parent: _parent, ...job } = record.job;
  return { job, x: record.x };
}

/** The first record of the tracked BullMQ job `ref`, from its hash and descriptor (`origin`), in `state`. */
function originRecord(
  ctx: Pick<ApplyDeps, 'options'>,
  tracked: TrackedJob,
  ref: BullRef,
  origin: JobOrigin,
  state: BullJobFacts['state'],
): JobRecord {
  return createRecord(tracked.seennId, ctx.options.appId, origin.descriptor, {
    queueName: ref.queueName,
    bullId: ref.bullId,
    createdAtMs: origin.job.timestamp,
    maxAttempts: origin.job.opts.attempts ?? 1,
    state,
  });
}

/** Builds the record of a job seen for the first time, from its BullMQ hash, and how it reaches its parent. */
async function firstRecord(
  ctx: ApplyDeps,
  queueName: string,
  resolver: JobResolver,
  tracked: TrackedJob,
  bullId: string,
  event: SourceEvent,
): Promise<{ record: JobRecord; family: Family | null } | null> {
  const origin = await resolver.origin(bullId);
  if (origin === null) return null;
  const { descriptor } = origin;
  const created = originRecord(ctx, tracked, { queueName, bullId }, origin, initialState(event));
  const spec = await resolver.childrenSpec(origin);
  const record = spec === null ? created : asParent(created, spec);
  if (descriptor.parent !== undefined)
    return { record, family: { parentJobId: descriptor.parent.parentJobId, assignIndex: false } };
  if (origin.flowParent === undefined) return { record, family: null };
  return { record, family: await flowFamily(ctx, resolver, tracked, origin.flowParent) };
}

/** How a flow child reaches its BullMQ parent, or `null` when that parent is not tracked (or not its user's). */
async function flowFamily(
  ctx: Pick<ApplyDeps, 'logger' | 'options'>,
  resolver: JobResolver,
  tracked: TrackedJob,
  ref: BullRef,
): Promise<Family | null> {
  const parent = await resolver.resolveRef(ref);
  if (parent === null) return null;
  if (parent.userId !== tracked.userId) {
    ctx.logger.warn(
      { jobId: tracked.seennId, parentJobId: parent.seennId },
      'a flow child and its parent belong to different users; the child is tracked on its own',
    );
    return null;
  }
  return {
    parentJobId: parent.seennId,
    assignIndex: true,
    createParent: () => flowParentRecord(ctx, resolver, parent, ref),
  };
}

/** The first record of a flow parent met through one of its children. */
async function flowParentRecord(
  ctx: Pick<ApplyDeps, 'options'>,
  resolver: JobResolver,
  parent: TrackedJob,
  ref: BullRef,
): Promise<JobRecord | null> {
  const origin = await resolver.parentOrigin(ref);
  if (origin === null) return null;
  const record = originRecord(ctx, parent, ref, origin, 'waiting-children');
  // It has at least the child that led here, even if BullMQ no longer lists it.
  return asParent(
    record,
    (await resolver.childrenSpec(origin)) ?? { total: 1, mode: 'average', failParentOnChildFailure: true },
  );
}

/** `base` after `events`, in order. */
function reduceEvents(base: JobRecord, events: readonly SourceEvent[]): JobRecord {
  // A parent's progress, counters and `running` come from its children whatever its own events say.
  return settleParent(events.reduce(reduce, base), (events[events.length - 1] as SourceEvent).at);
}

/** The change that writes `reduced` (the job after the events) over `snapshot`, or `null` when it changes nothing at all. */
function nextChange(snapshot: VersionedRecord | null, reduced: JobRecord, sourceId: string): JobChange | null {
  const previous = snapshot?.record ?? null;
  const visible = previous === null || visiblyDifferent(previous.job, reduced.job);
  // An invisible change keeps the old `updatedAt`: clients only see time move when something moved.
  const next: JobRecord =
    visible || previous === null
      ? reduced
      : { job: { ...reduced.job, updatedAt: previous.job.updatedAt }, x: reduced.x };
  if (previous !== null && sameJson(previous, next)) return null;
  const change: JobChange = { expectedVersion: snapshot?.version ?? 0, src: sourceId, record: next };
  if (visible) {
    change.event = jobEventOf(next.job);
    change.lastEventIsJob = true;
  }
  if (previous === null) change.index = true;
  return change;
}

/**
 * After a commit: keeps the queue's set of unfinished jobs current (what a re-sync revisits) and,
 * when a job finished, records it for ETAs (throughput, and the run's duration when it completed) —
 * gathered in `effects`, written once per read.
 */
function afterCommit(
  queueName: string,
  resolver: JobResolver,
  bullId: string,
  snapshot: VersionedRecord | null,
  next: JobRecord,
  effects: QueueEffects,
): void {
  if (isTerminal(next.job.status)) {
    resolver.forget(bullId);
    const { job, x } = next;
    const endedAtMs = finishedAtMs(job);
    let completion: Completion | undefined;
    if (job.status !== 'cancelled' && (snapshot === null || !isTerminal(snapshot.record.job.status))) {
      // jobId: the job's recorded ETA predictions are scored (completed) or dropped (failed); position/calibration.ts.
      completion = {
        queueName,
        finishedAtMs: endedAtMs,
        workflowId: job.workflowId ?? job.jobType,
        jobId: job.id,
        failed: job.status === 'failed',
      };
      if (job.status === 'completed' && x.attemptStartedAtMs !== undefined)
        completion.durationMs = Math.max(0, endedAtMs - x.attemptStartedAtMs);
    }
    effects.finished(job.id, completion);
  } else if (snapshot === null || snapshot.src === null) {
    // The first event the publisher applies to this job (the producer may have written its snapshot).
    effects.started(next.job.id);
  }
}
