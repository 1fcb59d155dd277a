/**
 * Parent jobs: how a parent's progress, counters and status follow from its children. Pure.
 *
 * A parent keeps running totals ({@link ParentAggregate}); each child change removes the child's old
 * contribution and adds its new one, so one change costs O(1) whatever the number of children.
 *
 * Rules (documented in the README):
 * - A child counts as `pending` (pending or queued, and children not created yet), `running`,
 *   `completed`, or `failed` (failed **or cancelled**: it will never complete).
 * - A finished child (completed, failed or cancelled) counts as progress 100, so a parent that
 *   tolerates failures reaches 100.
 * - `average`: ⌊Σ progress ÷ total⌋; `sequential`: ⌊finished ÷ total × 100⌋; `weighted`:
 *   ⌊Σ weight × progress ÷ Σ weight⌋. Children not created yet count as progress 0 with weight 1.
 *   Results are rounded **down**, so 100 means every child is at 100.
 * - Status: `pending` until a child runs (or finishes), then `running` with `startedAt`. With
 *   `failParentOnChildFailure` (the default) the first failed child fails the parent at once
 *   (`error.code` {@link CHILD_FAILURE_CODE}); otherwise the parent carries on. A parent BullMQ does
 *   not run completes (progress 100) when every child has finished; a parent BullMQ runs (a flow
 *   parent) completes when its own processor does.
 * - Once the parent is terminal, child changes still update `children` (and the totals) but never
 *   its status, progress, error or `completedAt`.
 */
import {
  LIMITS,
  isoTime,
  isTerminal,
  type ChildProgressMode,
  type ChildrenStats,
  type JobError,
  type JobStatus,
  type SeennJob,
} from './job.js';
import { jobEventOf, sameJson, visiblyDifferent, type JobRecord, type ParentAggregate } from './record.js';
import { CHILD_PROGRESS_EVENT } from './wire.js';

/** The `error.code` of a parent failed because a child failed (or was cancelled). */
export const CHILD_FAILURE_CODE = 'CHILD_JOB_FAILED';

/** How a parent counts its children. */
export interface ParentSpec {
  /** Children the parent expects, 1–1000. */
  total: number;
  mode: ChildProgressMode;
  failParentOnChildFailure: boolean;
}

/** Where a child stands, as its parent counts it. */
export type ChildState = 'pending' | 'running' | 'completed' | 'failed';

/** What one child adds to its parent's totals. */
export interface ChildContribution {
  state: ChildState;
  /** 0–100; 100 once finished. */
  progress: number;
  /** Its weight under `weighted` mode (default 1). */
  weight: number;
}

/** The payload of a `child.progress` event: parent fields clients shallow-merge into their copy. */
export interface ChildProgressPayload {
  parentJobId: string;
  progress: number;
  status: JobStatus;
  children: ChildrenStats;
  updatedAt: string;
}

/** Sums are kept on a 10⁻⁶ grid so adding and removing fractional weights cannot drift. */
const GRID = 1e6;

function onGrid(value: number): number {
  return Math.round(value * GRID) / GRID;
}

/** How a child in `status` counts. */
export function childStateOf(status: JobStatus): ChildState {
  switch (status) {
    case 'pending':
    case 'queued':
      return 'pending';
    case 'running':
      return 'running';
    case 'completed':
      return 'completed';
    case 'failed':
    case 'cancelled':
      return 'failed';
  }
}

/** What a child record adds to its parent's totals; `null` for a child that does not exist (yet). */
export function contributionOf(record: JobRecord | null): ChildContribution | null {
  if (record === null) return null;
  const state = childStateOf(record.job.status);
  const finished = state === 'completed' || state === 'failed';
  return { state, progress: finished ? 100 : record.job.progress, weight: onGrid(record.x.weight ?? 1) };
}

/** The totals of a parent none of whose children exist yet. */
export function emptyAggregate(spec: ParentSpec): ParentAggregate {
  return {
    mode: spec.mode,
    failParentOnChildFailure: spec.failParentOnChildFailure,
    total: spec.total,
    created: 0,
    completed: 0,
    failed: 0,
    running: 0,
    createdWeight: 0,
    progressSum: 0,
    weightedProgressSum: 0,
  };
}

/** The totals after one child went from `before` to `after` (`null`: did not exist). */
export function withContribution(
  aggregate: ParentAggregate,
  before: ChildContribution | null,
  after: ChildContribution | null,
): ParentAggregate {
  const next = { ...aggregate };
  if (before !== null) shift(next, before, -1);
  if (after !== null) shift(next, after, 1);
  // A flow parent first seen late may not know every child it had: never count fewer than exist.
  if (next.created > next.total) next.total = next.created;
  return next;
}

function shift(aggregate: ParentAggregate, contribution: ChildContribution, sign: 1 | -1): void {
  aggregate.created += sign;
  if (contribution.state !== 'pending') aggregate[contribution.state] += sign;
  aggregate.createdWeight = onGrid(aggregate.createdWeight + sign * contribution.weight);
  aggregate.progressSum += sign * contribution.progress;
  aggregate.weightedProgressSum = onGrid(
    aggregate.weightedProgressSum + sign * contribution.weight * contribution.progress,
  );
}

/** Children that have finished (completed, failed or cancelled). */
export function finishedCount(aggregate: ParentAggregate): number {
  return aggregate.completed + aggregate.failed;
}

/** The parent's progress under its mode: an integer 0–100, rounded down. */
export function aggregateProgress(aggregate: ParentAggregate): number {
  if (aggregate.total <= 0) return 0;
  let value: number;
  switch (aggregate.mode) {
    case 'average':
      value = aggregate.progressSum / aggregate.total;
      break;
    case 'sequential':
      value = (100 * finishedCount(aggregate)) / aggregate.total;
      break;
    case 'weighted': {
      const weight = aggregate.createdWeight + Math.max(0, aggregate.total - aggregate.created);
      value = weight > 0 ? aggregate.weightedProgressSum / weight : 0;
      break;
    }
  }
  // The epsilon absorbs float error (e.g. 3 × 33.333… must give 100, not 99).
  return Math.min(100, Math.max(0, Math.floor(value + 1e-9)));
}

/** The `children` counters of the wire object; `pending` includes children not created yet. */
export function childrenStats(aggregate: ParentAggregate): ChildrenStats {
  const { total, completed, failed, running } = aggregate;
  return { total, completed, failed, running, pending: Math.max(0, total - completed - failed - running) };
}

/** Whether any child has run (or finished). */
export function childrenStarted(aggregate: ParentAggregate): boolean {
  return aggregate.running > 0 || finishedCount(aggregate) > 0;
}

/** Makes `record` a parent of `spec.total` children, none created yet. */
export function asParent(record: JobRecord, spec: ParentSpec): JobRecord {
  const aggregate = emptyAggregate(spec);
  return {
    job: { ...record.job, children: childrenStats(aggregate), childProgressMode: spec.mode },
    x: { ...record.x, aggregate },
  };
}

/**
 * Brings a parent's visible fields in line with its totals: counters always; while it is not
 * terminal, progress and the `pending` → `running` move (`startedAt` = `atMs`). Used after the
 * parent's own BullMQ events too, so a flow parent keeps its children's progress and stays `running`
 * while BullMQ moves it from `waiting-children` to `wait`.
 */
export function settleParent(record: JobRecord, atMs: number): JobRecord {
  const aggregate = record.x.aggregate;
  if (aggregate === undefined) return record;
  const job: SeennJob = { ...record.job, children: childrenStats(aggregate), childProgressMode: aggregate.mode };
  if (!isTerminal(job.status)) {
    job.progress = aggregateProgress(aggregate);
    if (childrenStarted(aggregate)) {
      job.status = 'running';
      job.startedAt ??= isoTime(atMs);
      delete job.queue;
    }
  }
  return { job, x: record.x };
}

/**
 * The parent after one of its children went from `before` (`null`: just created) to `after`, at
 * `atMs`. `runsItself` is true for a parent BullMQ runs (it completes when its own job does).
 * `updatedAt` moves (never backwards) only when something visible changed.
 */
export function applyChildChange(
  parent: JobRecord,
  before: JobRecord | null,
  after: JobRecord,
  atMs: number,
): JobRecord {
  const current = parent.x.aggregate;
  if (current === undefined) return parent;
  const aggregate = withContribution(current, contributionOf(before), contributionOf(after));
  const wasTerminal = isTerminal(parent.job.status);
  let next = settleParent({ job: parent.job, x: { ...parent.x, aggregate } }, atMs);
  if (!wasTerminal) {
    const at = isoTime(atMs);
    const runsItself = parent.x.queueName !== undefined;
    if (aggregate.failParentOnChildFailure && aggregate.failed > 0) {
      next = {
        job: { ...next.job, status: 'failed', completedAt: at, error: childFailure(after, aggregate) },
        x: next.x,
      };
    } else if (!runsItself && finishedCount(aggregate) >= aggregate.total) {
      next = { job: { ...next.job, status: 'completed', progress: 100, completedAt: at }, x: next.x };
      delete next.job.error;
    }
  }
  if (visiblyDifferent(parent.job, next.job)) {
    const previousMs = Date.parse(parent.job.updatedAt);
    next.job.updatedAt = isoTime(Math.max(previousMs, atMs));
  } else {
    next.job.updatedAt = parent.job.updatedAt;
  }
  return next;
}

/** The error of a parent failed because of its child `child` (or, when that one did not fail, of its failed children). */
function childFailure(child: JobRecord, aggregate: ParentAggregate): JobError {
  if (contributionOf(child)?.state !== 'failed') {
    return {
      code: CHILD_FAILURE_CODE,
      message: `${aggregate.failed} of ${aggregate.total} child jobs failed`,
      details: { failed: aggregate.failed, total: aggregate.total },
    };
  }
  return failureOfChild(child.job, child.job.status, child.job.error);
}

/** `CHILD_JOB_FAILED` naming the child, its index, how it ended and its own error when known. */
function failureOfChild(job: SeennJob, status: JobStatus, error: JobError | undefined): JobError {
  const index = job.parent?.childIndex;
  const what = `Child job ${index ?? job.id} (${job.title})`;
  const details: Record<string, unknown> = { childJobId: job.id, childStatus: status };
  if (index !== undefined) details['childIndex'] = index;
  if (error !== undefined) details['childError'] = error;
  const reason = status === 'cancelled' ? 'was cancelled' : `failed${error ? `: ${error.message}` : ''}`;
  return { code: CHILD_FAILURE_CODE, message: `${what} ${reason}`.slice(0, LIMITS.errorMessageChars), details };
}

const BULL_CHILD_FAILURE = /^child (.+) failed$/;

/**
 * The key (`<prefix>:<queue>:<id>`) of the child whose failure made BullMQ fail its flow parent
 * (`failParentOnFailure`), read from the parent's failed reason; `null` for any other reason.
 */
export function failedChildKeyOf(reason: string): string | null {
  return BULL_CHILD_FAILURE.exec(reason)?.[1] ?? null;
}

/**
 * The error of a flow parent BullMQ failed because of a child (see {@link failedChildKeyOf}):
 * `CHILD_JOB_FAILED` naming the child when its record is known (its own error when already known:
 * BullMQ may report the parent before the child's own failure is applied), else its BullMQ key.
 */
export function flowChildFailure(child: JobRecord | null, childKey: string): JobError {
  if (child === null)
    return { code: CHILD_FAILURE_CODE, message: `Child job ${childKey} failed`, details: { childKey } };
  const lastError = child.x.lastError;
  const reported: JobError | undefined =
    child.job.error ?? (lastError === undefined ? undefined : { code: lastError.code, message: lastError.message });
  return failureOfChild(child.job, 'failed', reported);
}

/** The `child.progress` payload of a parent. */
export function childProgressPayload(parent: SeennJob): ChildProgressPayload {
  return {
    parentJobId: parent.id,
    progress: parent.progress,
    status: parent.status,
    children: parent.children ?? { total: 0, completed: 0, failed: 0, running: 0, pending: 0 },
    updatedAt: parent.updatedAt,
  };
}

/**
 * The replay event announcing a parent's change from `previous` to `next`: `job.<status>` with the
 * whole parent when its status changed, `child.progress` when only its progress or counters did,
 * `null` when nothing visible changed.
 */
export function parentEventOf(previous: SeennJob, next: SeennJob): { name: string; data: string } | null {
  if (!visiblyDifferent(previous, next)) return null;
  if (previous.status !== next.status) return jobEventOf(next);
  return { name: CHILD_PROGRESS_EVENT, data: JSON.stringify(childProgressPayload(next)) };
}

/** Whether two records differ at all (visible fields or internals). */
export function recordsDiffer(a: JobRecord, b: JobRecord): boolean {
  return !sameJson(a, b);
}
