/**
 * Validation of what a backend sends to a job it drives (handles and the REST write routes): the same
 * schemas as the worker's `job.setProgress`, coded errors, nothing written on bad input.
 */
import { parseOrThrow } from '../options.js';
import { parseSetProgress } from '../model/progress.js';
import {
  CancelSchema,
  CompleteSchema,
  FailSchema,
  type CancelOptions,
  type CompleteUpdate,
  type FailUpdate,
  type ProgressUpdate,
} from '../model/updates.js';
import type { JobError } from '../model/job.js';

/**
 * Validates a progress update exactly as the worker's `job.setProgress` does (model/progress.ts
 * `parseSetProgress`); throws a `VALIDATION_ERROR` or `PAYLOAD_TOO_LARGE` and nothing is written.
 */
export function parseProgressUpdate(progress: unknown, options: unknown): ProgressUpdate {
  return parseSetProgress(progress, options, parseOrThrow);
}

/** Validates `complete({ result?, message? })`; throws a coded error on bad input. */
export function parseCompleteUpdate(options: unknown): CompleteUpdate {
  const parsed = parseOrThrow(CompleteSchema, options ?? {}, 'complete options', 'VALIDATION_ERROR');
  const update: CompleteUpdate = {};
  if (parsed.result !== undefined) update.result = parsed.result;
  if (parsed.message !== undefined) update.message = parsed.message;
  return update;
}

/** Validates `fail({ error: { code, message, details? }, retryable? })`; throws a coded error on bad input. */
export function parseFailUpdate(options: unknown): FailUpdate {
  const parsed = parseOrThrow(FailSchema, options, 'fail options', 'VALIDATION_ERROR');
  const error: JobError = { code: parsed.error.code, message: parsed.error.message };
  if (parsed.error.details !== undefined) error.details = parsed.error.details;
  return parsed.retryable === undefined ? { error } : { error, retryable: parsed.retryable };
}

/** Validates `cancel({ reason? })`; throws a coded error on bad input. */
export function parseCancelUpdate(options: unknown): CancelOptions {
  const parsed = parseOrThrow(CancelSchema, options ?? {}, 'cancel options', 'VALIDATION_ERROR');
  return parsed.reason === undefined ? {} : { reason: parsed.reason };
}
