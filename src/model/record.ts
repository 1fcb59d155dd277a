/**
 * What the store keeps per job: the wire object users see, plus the internals the reducer needs and
 * users never see.
 */
import type { JobFields } from './descriptor.js';
import { isoTime, type ChildProgressMode, type JobError, type SeennJob } from './job.js';
import { eventNameForStatus } from './wire.js';

/** The running totals a parent keeps so one child change updates it in O(1). */
export interface ParentAggregate {
  mode: ChildProgressMode;
  failParentOnChildFailure: boolean;
  /** Children the parent expects (created or not). */
  total: number;
  /** Children created so far. */
  created: number;
  completed: number;
  failed: number;
  running: number;
  /** Σ weight of created children (children not created yet weigh 1). */
  createdWeight: number;
  /** Σ progress (0–100) of created children, a failed child counting 100. */
  progressSum: number;
  /** Σ weight × progress of created children. */
  weightedProgressSum: number;
}

/** Facts about a job that users do not see. */
export interface JobInternals {
  /** The BullMQ queue; absent for a batch parent that BullMQ does not run. */
  queueName?: string;
  /** The BullMQ job id. */
  bullId?: string;
  /** Attempts started so far (BullMQ's `attemptsStarted`, counted from `active` events). */
  attempt: number;
  /** BullMQ's `opts.attempts` (1 when unset). */
  maxAttempts: number;
  /** When the current (or last) attempt started, epoch ms: a finished run's duration starts here. */
  attemptStartedAtMs?: number;
  /** The error of the last failed attempt, as the worker wrapper reported it. */
  lastError?: JobError & { attempt: number };
  /** A child's weight under `weighted` mode (default 1). */
  weight?: number;
  /** A parent's running totals. */
  aggregate?: ParentAggregate;
  /** A parent's default queue for children created without one (`createParent`'s `queue`). */
  childQueue?: string;
  /**
   * Seenn's per-job `ttlSeconds`: how long the job (snapshot, owner entry, a parent's children index)
   * stays readable after it ends, in place of `retention.finishedJobSeconds`. Absent: the store's retention.
   */
  ttlSeconds?: number;
}

/** A job as the store keeps it. */
export interface JobRecord {
  job: SeennJob;
  x: JobInternals;
}

/** Whether two jobs differ in anything a user can see (ignoring `updatedAt`). */
export function visiblyDifferent(a: SeennJob, b: SeennJob): boolean {
  return !sameJson(a, b, 'updatedAt');
}

/**
 * Whether two JSON values are equal, whatever their object key order (`ignoredKey`, when given, is
 * skipped at the top level). Allocation-free: the publisher calls it for every event.
 */
export function sameJson(a: unknown, b: unknown, ignoredKey?: string): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i += 1) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  let count = 0;
  for (const key in left) {
    if (key === ignoredKey || left[key] === undefined) continue;
    count += 1;
    if (!sameJson(left[key], right[key])) return false;
  }
  for (const key in right) if (key !== ignoredKey && right[key] !== undefined) count -= 1;
  return count === 0;
}

/**
 * The first record of a job no BullMQ worker runs yet or ever (a Seenn-only job, a parent Seenn
 * drives): `pending`, progress 0, one attempt, created (and updated) at `createdAtMs`.
 */
export function pendingRecord(id: string, appId: string, fields: JobFields, createdAtMs: number): JobRecord {
  const at = isoTime(createdAtMs);
  const job: SeennJob = {
    id,
    jobId: id,
    appId,
    userId: fields.userId,
    jobType: fields.jobType,
    title: fields.title,
    status: 'pending',
    progress: 0,
    createdAt: at,
    updatedAt: at,
  };
  if (fields.metadata !== undefined) job.metadata = fields.metadata;
  if (fields.workflowId !== undefined) job.workflowId = fields.workflowId;
  return { job, x: { attempt: 0, maxAttempts: 1 } };
}

/** The replay event announcing a job's state: `job.<status>` with the whole job object. */
export function jobEventOf(job: SeennJob): { name: string; data: string } {
  return { name: eventNameForStatus(job.status), data: JSON.stringify(job) };
}
