/**
 * How the worker wrapper reads an error its processor threw: BullMQ's control-flow signals pass
 * through untouched; anything else becomes the `{ code, message }` a user sees if the job fails.
 *
 * The rule for what a user sees is one flag: a thrown value with `expose: true` (a
 * {@link SeennUserError}, or any error the app marks so, as `http-errors` does) shows its own `code`
 * and message; any other value shows `JOB_FAILED` (`UNRECOVERABLE` for BullMQ's
 * `UnrecoverableError`) and {@link HIDDEN_FAILURE_MESSAGE}. A string `code` alone is not enough:
 * drivers set codes too (`ER_ACCESS_DENIED_ERROR`, `ECONNREFUSED`) on messages that name hosts,
 * users and paths. The full error stays where operators look: the wrapper logs it, and BullMQ keeps
 * it as the job's `failedReason` (the admin view).
 */
import {
  DelayedError,
  RATE_LIMIT_ERROR,
  RateLimitError,
  UnrecoverableError,
  WaitingChildrenError,
  WaitingError,
} from 'bullmq';
import { LIMITS, type JobError } from '../model/job.js';
import { DEFAULT_FAILURE_CODE, HIDDEN_FAILURE_MESSAGE } from '../model/reducer.js';

export { HIDDEN_FAILURE_MESSAGE };

/** The code of a failure thrown as BullMQ's `UnrecoverableError` (no retry) without a code of its own. */
export const UNRECOVERABLE_CODE = 'UNRECOVERABLE';

/** What an exposed error's `code` must look like to be shown as the job's error code. */
const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

const CONTROL_FLOW_NAMES: ReadonlySet<string> = new Set([
  'DelayedError',
  'WaitingChildrenError',
  'WaitingError',
  'RateLimitError',
]);

/**
 * An error whose code and message are meant for the job's user, e.g.
 * `throw new SeennUserError('QUOTA_EXCEEDED', "You have used this month's 10 renders")`.
 * It carries `expose: true`, the one thing the worker wrapper checks; any other thrown error shows
 * the user a generic message. `code` should match `/^[A-Z][A-Z0-9_]{0,63}$/` (else `JOB_FAILED`
 * is shown with the message); the message is cut to 2,000 characters.
 */
export class SeennUserError extends Error {
  /** Set as a literal so minifiers cannot rename it. */
  override readonly name: string = 'SeennUserError';
  /** The code the user sees, e.g. `QUOTA_EXCEEDED`. */
  readonly code: string;
  /** Marks the code and message as meant for users. */
  readonly expose = true;

  /**
   * @param code - the code the user sees (`/^[A-Z][A-Z0-9_]{0,63}$/`)
   * @param message - the sentence the user sees
   * @param options - `cause` for logs (never shown to the user)
   */
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/**
 * Whether `error` is one of BullMQ's control-flow signals (`DelayedError`, `WaitingChildrenError`,
 * `WaitingError`, `RateLimitError`). Like BullMQ, it recognises them by class or by `name` (copies
 * of BullMQ, or errors rebuilt across a process boundary, fail `instanceof`), and a rate-limit
 * signal also by its message.
 */
export function isControlFlowError(error: unknown): boolean {
  if (
    error instanceof DelayedError ||
    error instanceof WaitingChildrenError ||
    error instanceof WaitingError ||
    error instanceof RateLimitError
  )
    return true;
  if (typeof error !== 'object' || error === null) return false;
  const { name, message } = error as { name?: unknown; message?: unknown };
  return (typeof name === 'string' && CONTROL_FLOW_NAMES.has(name)) || message === RATE_LIMIT_ERROR;
}

/**
 * Whether a thrown value is marked as meant for users: it is an object whose `expose` is `true`
 * (own or inherited), like {@link SeennUserError}.
 */
export function isUserFacingError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { expose?: unknown }).expose === true;
}

/**
 * The error a user sees for a thrown value. Marked as meant for users (`expose: true`): its own
 * `code` when that looks like a code (`/^[A-Z][A-Z0-9_]{0,63}$/`, else `UNRECOVERABLE` for
 * `UnrecoverableError`, else `JOB_FAILED`) and its own message cut to {@link LIMITS.errorMessageChars}.
 * Anything else: `UNRECOVERABLE` for `UnrecoverableError`, else `JOB_FAILED`, with
 * {@link HIDDEN_FAILURE_MESSAGE} — nothing of the value itself.
 */
export function jobErrorOf(error: unknown): JobError {
  if (!isUserFacingError(error)) return { code: fallbackCodeOf(error), message: HIDDEN_FAILURE_MESSAGE };
  const { code } = error as { code?: unknown };
  return {
    code: typeof code === 'string' && CODE_PATTERN.test(code) ? code : fallbackCodeOf(error),
    message: messageOf(error).slice(0, LIMITS.errorMessageChars),
  };
}

function fallbackCodeOf(error: unknown): string {
  const isUnrecoverable =
    error instanceof UnrecoverableError ||
    (typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'UnrecoverableError');
  return isUnrecoverable ? UNRECOVERABLE_CODE : DEFAULT_FAILURE_CODE;
}

function messageOf(error: unknown): string {
  const { message } = error as { message?: unknown };
  return typeof message === 'string' ? message : HIDDEN_FAILURE_MESSAGE;
}
