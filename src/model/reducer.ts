/**
 * The update reducer: a job record plus one source event gives the next record. Pure; the status
 * mapping of DESIGN.md lives here:
 *
 * | BullMQ                                   | Seenn                                   |
 * |------------------------------------------|-----------------------------------------|
 * | wait / prioritized (also while paused)   | queued                                  |
 * | delayed (incl. backoff before a retry)   | pending                                 |
 * | waiting-children                         | pending (a parent's children drive it)  |
 * | active                                   | running (progress starts afresh)        |
 * | attempt failed, will retry               | queued / pending with `attempt`         |
 * | completed                                | completed, progress 100, result         |
 * | failed (final)                           | failed, error `{ code, message }`       |
 * | removed before finishing                 | cancelled                               |
 *
 * Terminal states are final: any later event returns the record unchanged.
 *
 * Besides BullMQ's events, one input comes from the producer itself ({@link EnqueueFailedEvent}):
 * BullMQ refused to add the job, so no BullMQ event will ever tell.
 */
import type { Descriptor } from './descriptor.js';
import { failedChildKeyOf, flowChildFailure } from './parent.js';
import { isTerminal, isoTime, type JobError, type JobStatus, type SeennJob } from './job.js';
import { parseProgressValue, PROGRESS_MARKER } from './progress.js';
import type { JobInternals, JobRecord } from './record.js';
import type { SourceEvent } from './source-event.js';
import { resultOf } from './updates.js';

export { resultOf };

/** The error code of a final failure for which the worker reported no code of its own. */
export const DEFAULT_FAILURE_CODE = 'JOB_FAILED';

/**
 * The message a user sees for a failure whose own message was not marked as meant for users
 * (see `SeennUserError`): thrown messages can hold connection strings, paths or other users' data,
 * so they go to logs and the admin view (BullMQ's `failedReason`), never to the job's owner.
 */
export const HIDDEN_FAILURE_MESSAGE = 'The job failed.';

/** The error code of a job BullMQ refused to add. */
export const ENQUEUE_FAILED = 'ENQUEUE_FAILED';

/** BullMQ refused to add the job (or its flow) at `at` (epoch ms): the job fails with {@link ENQUEUE_FAILED}. */
export interface EnqueueFailedEvent {
  kind: 'enqueue-failed';
  at: number;
  /** BullMQ's error message. */
  message: string;
}

/** What the reducer applies: a BullMQ source event, or the producer's {@link EnqueueFailedEvent}. */
export type ReducerInput = SourceEvent | EnqueueFailedEvent;

/** Facts about a BullMQ job, read from its hash when the publisher first meets it. */
export interface BullJobFacts {
  queueName: string;
  bullId: string;
  /** BullMQ's `timestamp` (creation time, epoch ms). */
  createdAtMs: number;
  /** BullMQ's `opts.attempts` (default 1). */
  maxAttempts: number;
  /** The BullMQ state the job is in now. */
  state: 'waiting' | 'prioritized' | 'delayed' | 'waiting-children' | 'active' | 'completed' | 'failed' | 'unknown';
}

/** Maps a BullMQ state to the Seenn status a job in that state has. */
export function statusOfBullState(state: BullJobFacts['state']): JobStatus {
  switch (state) {
    case 'waiting':
    case 'prioritized':
      return 'queued';
    case 'delayed':
    case 'waiting-children':
      return 'pending';
    case 'active':
      return 'running';
    case 'completed':
      return 'completed';
    case 'failed':
      return 'failed';
    case 'unknown':
      return 'cancelled';
  }
}

/**
 * A new record for a job the publisher has just met.
 * @param id - the Seenn id
 * @param appId - the app the job belongs to
 * @param descriptor - who sees it, and as what
 * @param facts - the BullMQ facts (queue, id, creation time, attempts, state)
 */
export function createRecord(id: string, appId: string, descriptor: Descriptor, facts: BullJobFacts): JobRecord {
  const created = isoTime(facts.createdAtMs);
  const job: SeennJob = {
    id,
    jobId: id,
    appId,
    userId: descriptor.userId,
    jobType: descriptor.jobType,
    title: descriptor.title,
    status: statusOfBullState(facts.state === 'active' ? 'waiting' : facts.state),
    progress: 0,
    createdAt: created,
    updatedAt: created,
  };
  if (descriptor.metadata !== undefined) job.metadata = descriptor.metadata;
  if (descriptor.workflowId !== undefined) job.workflowId = descriptor.workflowId;
  if (descriptor.estimatedCompletionAt !== undefined)
    job.estimatedCompletionAt = new Date(descriptor.estimatedCompletionAt).toISOString();
  if (descriptor.parent !== undefined)
    job.parent = { parentJobId: descriptor.parent.parentJobId, childIndex: descriptor.parent.childIndex };
  if (facts.maxAttempts > 1) job.attempt = { current: 1, max: facts.maxAttempts };
  const x: JobInternals = {
    queueName: facts.queueName,
    bullId: facts.bullId,
    attempt: 0,
    maxAttempts: facts.maxAttempts,
  };
  if (descriptor.parent?.weight !== undefined) x.weight = descriptor.parent.weight;
  return { job, x };
}

/**
 * Applies one source event (or {@link EnqueueFailedEvent}). Returns the same object when the event
 * changes nothing (terminal record, stale progress), else a new record; `updatedAt` is the event time.
 */
export function reduce(record: JobRecord, event: ReducerInput): JobRecord {
  if (isTerminal(record.job.status)) return record;
  const job: SeennJob = { ...record.job, updatedAt: isoTime(event.at) };
  const x: JobInternals = { ...record.x };
  switch (event.kind) {
    case 'waiting':
      job.status = 'queued';
      if (event.prev === 'active') markRetry(job, x);
      break;
    case 'delayed':
      job.status = 'pending';
      if (x.attempt > 0 && isRetry(x, event)) markRetry(job, x);
      break;
    case 'waiting-children':
      job.status = 'pending';
      break;
    case 'active':
      x.attempt += 1;
      x.attemptStartedAtMs = event.at;
      job.status = 'running';
      job.startedAt ??= isoTime(event.at);
      // Each attempt starts afresh: nothing of an earlier attempt's progress shows.
      job.progress = 0;
      delete job.message;
      delete job.stage;
      delete job.queue;
      if (x.maxAttempts > 1) job.attempt = { current: x.attempt, max: x.maxAttempts };
      break;
    case 'progress': {
      const parsed = parseProgressValue(event.data);
      if (parsed === null) return record;
      // Progress is written only while an attempt runs; a value that lands after the job left `active`
      // (a worker whose connection stalled past its lock wrote it late) belongs to an attempt that is
      // over and is not shown. (A failure report still counts for its attempt.)
      const late = record.job.status !== 'running';
      if (PROGRESS_MARKER in parsed) {
        // A payload written by an earlier attempt (or before the `active` event was applied) is stale.
        if (parsed.attempt !== x.attempt) return record;
        if (parsed.error !== undefined) {
          x.lastError = { ...parsed.error, attempt: parsed.attempt };
          return { job: record.job, x };
        }
        if (late) return record;
        job.progress = parsed.progress;
        setOrDelete(job, 'message', parsed.message);
        setOrDelete(job, 'stage', parsed.stage);
        setOrDelete(job, 'queue', parsed.queue);
        if (parsed.estimatedCompletionAt !== undefined) job.estimatedCompletionAt = parsed.estimatedCompletionAt;
        if (parsed.metadata !== undefined) job.metadata = { ...job.metadata, ...parsed.metadata };
      } else {
        if (late) return record;
        job.progress = parsed.progress;
      }
      break;
    }
    case 'completed':
      job.status = 'completed';
      job.progress = 100;
      job.completedAt = isoTime(event.at);
      setOrDelete(job, 'result', resultOf(event.returnvalue));
      delete job.error;
      delete job.queue;
      break;
    case 'failed':
      job.status = 'failed';
      job.completedAt = isoTime(event.at);
      job.error = failureOf(x, event.reason);
      delete job.queue;
      break;
    case 'enqueue-failed':
      job.status = 'failed';
      job.completedAt = isoTime(event.at);
      job.error = { code: ENQUEUE_FAILED, message: event.message };
      delete job.queue;
      break;
    case 'removed':
      job.status = 'cancelled';
      job.completedAt = isoTime(event.at);
      delete job.queue;
      break;
  }
  return { job, x };
}

/**
 * Whether a `delayed` after a run is a backoff before a retry (the attempt failed) rather than a step
 * job delaying itself. BullMQ counts ended attempts in `attemptsMade`, but the count is read after the
 * event: when no attempt started since (`attemptsStarted`), it is exact; when some did, it may also
 * count their ends, so it decides only when it is past doubt either way, and otherwise the failure
 * the worker wrapper reported for this attempt, or BullMQ's `failedReason`, does. Without the count, the
 * wrapper's report alone decides.
 */
function isRetry(x: JobInternals, event: SourceEvent & { kind: 'delayed' }): boolean {
  const { attemptsMade: made, attemptsStarted: started } = event;
  const reported = x.lastError?.attempt === x.attempt;
  if (made === undefined) return reported;
  if (started === undefined || started <= x.attempt) return made >= x.attempt;
  if (made - (started - x.attempt) >= x.attempt) return true;
  if (made < x.attempt) return false;
  return reported || event.failedBefore === true;
}

/** Shows that an attempt failed and another will run. */
function markRetry(job: SeennJob, x: JobInternals): void {
  job.progress = 0;
  delete job.stage;
  const next = x.attempt + 1;
  if (x.maxAttempts > 1) job.attempt = { current: next, max: Math.max(x.maxAttempts, next) };
  const failed = x.lastError?.attempt === x.attempt ? x.lastError : undefined;
  job.message = failed
    ? `Attempt ${x.attempt} failed (${failed.message}); retrying`
    : `Attempt ${x.attempt} did not finish; it will run again`;
}

/**
 * The user-facing error of a final failure: what the worker wrapper reported for this attempt (it
 * already hid what was not meant for users). Without such a report (a plain BullMQ processor, a
 * stalled job, a report that could not be written) BullMQ's `failedReason` is the thrown message
 * verbatim, so the user sees {@link HIDDEN_FAILURE_MESSAGE}; only BullMQ's own "child … failed"
 * reason is kept, for the publisher to name the child.
 */
function failureOf(x: JobInternals, reason: string): JobError {
  const reported = x.lastError;
  if (reported !== undefined && reported.attempt === x.attempt) {
    const error: JobError = { code: reported.code, message: reported.message };
    if (reported.details !== undefined) error.details = reported.details;
    return error;
  }
  return { code: DEFAULT_FAILURE_CODE, message: failedChildKeyOf(reason) === null ? HIDDEN_FAILURE_MESSAGE : reason };
}

/**
 * The key of the child whose failure made BullMQ fail this flow parent just now
 * (`failParentOnFailure`): `next` is a parent that `previous` (`null`: no snapshot yet) did not show
 * failed, failed with {@link DEFAULT_FAILURE_CODE} and BullMQ's "child … failed" reason — possibly
 * before the publisher applied that child's own failure. `null` for any other change.
 */
export function flowFailureChildKey(previous: JobRecord | null, next: JobRecord): string | null {
  const { job, x } = next;
  if (
    x.aggregate === undefined ||
    job.status !== 'failed' ||
    job.error?.code !== DEFAULT_FAILURE_CODE ||
    previous?.job.status === 'failed'
  )
    return null;
  return failedChildKeyOf(job.error.message);
}

/**
 * The flow parent of {@link flowFailureChildKey}, showing `CHILD_JOB_FAILED` naming the child (its
 * record as the publisher found it, `null` when not tracked), as if the child's own failure had
 * failed it.
 */
export function failedByFlowChild(parent: JobRecord, child: JobRecord | null, childKey: string): JobRecord {
  return { job: { ...parent.job, error: flowChildFailure(child, childKey) }, x: parent.x };
}

function setOrDelete<K extends 'message' | 'stage' | 'queue' | 'result'>(
  job: SeennJob,
  key: K,
  value: SeennJob[K] | undefined,
): void {
  if (value === undefined) delete job[key];
  else job[key] = value;
}
