/**
 * Changes a backend makes to a job it drives itself (a job handle or the REST write routes): progress,
 * completion, failure and cancellation, as pure functions of a record. Seenn's update semantics:
 * `message`, `stage` and `queue` replace the previous value when given and stay when left out;
 * `metadata` is merged (shallow) and then size-checked again. Terminal states are final: the callers
 * refuse a change to a finished job before calling these.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { JobErrorSchema, LIMITS, isoTime, type JobError, type QueueInfo, type SeennJob, type Stage } from './job.js';
import type { JobRecord } from './record.js';

/** Bytes of `value` as JSON (UTF-8). */
function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

/** Whether `value` is a plain JSON object (not an array, not `null`). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A job result as an app gives it: `{ type?, url?, data? }` where `type` and `url` are strings and
 * `data` an object (other keys are kept), at most 100 KB as JSON.
 */
export const JobResultSchema = z
  .looseObject({
    type: z.string().max(200).optional(),
    url: z.string().max(4_000).optional(),
    data: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((value) => jsonBytes(value) <= LIMITS.resultBytes, {
    message: `result must be at most ${LIMITS.resultBytes} bytes as JSON`,
    params: { code: 'PAYLOAD_TOO_LARGE' },
  });

/**
 * A value a worker returned as a Seenn `result` (always `{ type?, url?, data? }` with `data` an
 * object, which the official Flutter SDK requires):
 * - `undefined` / `null` → no result;
 * - a plain object → itself, except that a `data` that is not an object is wrapped as
 *   `{ value: data }` and a `type` or `url` that is not a string is dropped;
 * - anything else (a number, string, boolean or array) → `{ data: { value } }`.
 */
export function resultOf(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) return { data: { value } };
  const out: Record<string, unknown> = { ...value };
  if ('type' in out && typeof out['type'] !== 'string') delete out['type'];
  if ('url' in out && typeof out['url'] !== 'string') delete out['url'];
  if ('data' in out) {
    const data = out['data'];
    if (data === undefined || data === null) delete out['data'];
    else if (!isPlainObject(data)) out['data'] = { value: data };
  }
  return out;
}

/** `setProgress(progress, options)` of a handle, and the body of `POST /jobs/:id/progress`. */
export interface ProgressUpdate {
  progress: number;
  message?: string;
  stage?: Stage;
  queue?: QueueInfo;
  estimatedCompletionAt?: string;
  metadata?: Record<string, unknown>;
}

/** Options of a handle's `complete(...)`, and the body of `POST /jobs/:id/complete`. */
export interface CompleteUpdate {
  result?: Record<string, unknown>;
  message?: string;
}

/** Validates {@link CompleteUpdate}. */
export const CompleteSchema = z
  .object({ result: JobResultSchema.optional(), message: z.string().max(LIMITS.messageChars).optional() })
  .strict();

/** Options of a handle's `fail(...)`, and the body of `POST /jobs/:id/fail`. */
export interface FailUpdate {
  error: JobError;
  /** Kept in `error.details.retryable` (Seenn has no other place for it). */
  retryable?: boolean;
}

/** Validates {@link FailUpdate}. */
export const FailSchema = z.object({ error: JobErrorSchema, retryable: z.boolean().optional() }).strict();

/** Options of `cancel(...)` (`seenn.jobs.cancel` and a handle's `cancel`). */
export interface CancelOptions {
  /** Why; shown as the job's `message`. */
  reason?: string;
}

/** Validates {@link CancelOptions}. */
export const CancelSchema = z.object({ reason: z.string().max(LIMITS.messageChars).optional() }).strict();

/** The time a change is stamped with: `atMs`, never before the job's last `updatedAt`. */
function stamp(job: SeennJob, atMs: number): string {
  return isoTime(Math.max(atMs, Date.parse(job.updatedAt)));
}

/**
 * Merges `patch` into a job's metadata (shallow: a key given replaces that key) and checks the size
 * again; throws `PAYLOAD_TOO_LARGE` when the merged object is over 10 KB.
 */
export function mergeMetadata(
  current: Record<string, unknown> | undefined,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const merged = { ...current, ...patch };
  const bytes = jsonBytes(merged);
  if (bytes > LIMITS.metadataBytes) {
    throw new ValidationError(
      'PAYLOAD_TOO_LARGE',
      `metadata must be at most ${LIMITS.metadataBytes} bytes as JSON once merged (it would be ${bytes})`,
      { details: { bytes, limit: LIMITS.metadataBytes } },
    );
  }
  return merged;
}

/**
 * The record after a progress update at `atMs`: `running` (with `startedAt` the first time), the new
 * progress, `message`/`stage`/`queue`/`estimatedCompletionAt` replaced when given, metadata merged.
 */
export function applyProgress(record: JobRecord, update: ProgressUpdate, atMs: number): JobRecord {
  const job: SeennJob = {
    ...record.job,
    status: 'running',
    progress: update.progress,
    updatedAt: stamp(record.job, atMs),
  };
  job.startedAt ??= job.updatedAt;
  if (update.message !== undefined) job.message = update.message;
  if (update.stage !== undefined) job.stage = update.stage;
  if (update.queue !== undefined) job.queue = update.queue;
  if (update.estimatedCompletionAt !== undefined) {
    job.estimatedCompletionAt = update.estimatedCompletionAt;
    delete job.etaConfidence;
    delete job.etaBasedOn;
  }
  if (update.metadata !== undefined) job.metadata = mergeMetadata(record.job.metadata, update.metadata);
  return { job, x: record.x };
}

/** The record completed at `atMs`: progress 100, `completedAt`, the result and message when given. */
export function applyComplete(record: JobRecord, update: CompleteUpdate, atMs: number): JobRecord {
  const job: SeennJob = { ...record.job, status: 'completed', progress: 100, updatedAt: stamp(record.job, atMs) };
  job.completedAt = job.updatedAt;
  if (update.result !== undefined) job.result = update.result;
  if (update.message !== undefined) job.message = update.message;
  delete job.error;
  delete job.queue;
  return { job, x: record.x };
}

/** The record failed at `atMs` with `update.error` (`retryable` echoed in `error.details.retryable`). */
export function applyFail(record: JobRecord, update: FailUpdate, atMs: number): JobRecord {
  const job: SeennJob = { ...record.job, status: 'failed', updatedAt: stamp(record.job, atMs) };
  job.completedAt = job.updatedAt;
  const error: JobError = { ...update.error };
  if (update.retryable !== undefined) error.details = { ...update.error.details, retryable: update.retryable };
  job.error = error;
  delete job.queue;
  return { job, x: record.x };
}

/** The record cancelled at `atMs`; the reason, when given, becomes the `message`. */
export function applyCancel(record: JobRecord, update: CancelOptions, atMs: number): JobRecord {
  const job: SeennJob = { ...record.job, status: 'cancelled', updatedAt: stamp(record.job, atMs) };
  job.completedAt = job.updatedAt;
  if (update.reason !== undefined) job.message = update.reason;
  delete job.queue;
  return { job, x: record.x };
}
