/**
 * How the worker wrapper reads an error its processor threw: BullMQ's control-flow signals pass
 * through untouched; anything else becomes the `{ code, message }` a user sees if the job fails.
 */
import { DelayedError, RATE_LIMIT_ERROR, RateLimitError, UnrecoverableError, WaitingChildrenError, WaitingError } from 'bullmq';
import { LIMITS, type JobError } from '../model/job.js';
import { DEFAULT_FAILURE_CODE } from '../model/reducer.js';

/** The code of a failure thrown as BullMQ's `UnrecoverableError` (no retry) without a code of its own. */
export const UNRECOVERABLE_CODE = 'UNRECOVERABLE';

/** What a thrown value's own `code` must look like to be shown as the job's error code. */
const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

const CONTROL_FLOW_NAMES: ReadonlySet<string> = new Set(['DelayedError', 'WaitingChildrenError', 'WaitingError', 'RateLimitError']);

/**
 * Whether `error` is one of BullMQ's control-flow signals (`DelayedError`, `WaitingChildrenError`,
 * `WaitingError`, `RateLimitError`). Like BullMQ, it recognises them by class or by `name` (copies
 * of BullMQ, or errors rebuilt across a process boundary, fail `instanceof`), and a rate-limit
 * signal also by its message.
 */
export function isControlFlowError(error: unknown): boolean {
  if (error instanceof DelayedError || error instanceof WaitingChildrenError || error instanceof WaitingError || error instanceof RateLimitError) return true;
  if (typeof error !== 'object' || error === null) return false;
  const { name, message } = error as { name?: unknown; message?: unknown };
  return (typeof name === 'string' && CONTROL_FLOW_NAMES.has(name)) || message === RATE_LIMIT_ERROR;
}

/**
 * The error a user sees for a thrown value: its own `code` when that looks like a code
 * (`/^[A-Z][A-Z0-9_]{0,63}$/`), `UNRECOVERABLE` for BullMQ's `UnrecoverableError`, else
 * `JOB_FAILED`; the message is the error's own, cut to {@link LIMITS.errorMessageChars}.
 */
export function jobErrorOf(error: unknown): JobError {
  return { code: codeOf(error), message: messageOf(error).slice(0, LIMITS.errorMessageChars) };
}

function codeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && CODE_PATTERN.test(code)) return code;
    if (error instanceof UnrecoverableError || name === 'UnrecoverableError') return UNRECOVERABLE_CODE;
  }
  return DEFAULT_FAILURE_CODE;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message;
  return String(error);
}
