/**
 * The error catalogue. Every error this package throws is a {@link SeennError} with a stable `code`;
 * HTTP answers carry the same code in `{ error: { code, message, details } }`.
 */

/** Every stable error code, with the HTTP status it maps to when it crosses the bridge. */
export const ERROR_CODES = {
  /** Options given to a constructor or factory are invalid. */
  CONFIG_INVALID: 500,
  /** Input to an API call or an HTTP request failed validation. */
  VALIDATION_ERROR: 400,
  /** A payload is larger than its documented bound. */
  PAYLOAD_TOO_LARGE: 400,
  /** A job's output would pass `maxOutputBytes` or `maxOutputChunks`; nothing past the bound was stored. */
  OUTPUT_LIMIT_EXCEEDED: 400,
  /** No credentials, or credentials that are invalid or expired. */
  UNAUTHORIZED: 401,
  /** Credentials are valid but do not allow this request. */
  FORBIDDEN: 403,
  /** The job does not exist, has expired, or belongs to someone else. */
  NOT_FOUND: 404,
  /** The route exists but does not answer this HTTP method (the answer's `Allow` header names those it does). */
  METHOD_NOT_ALLOWED: 405,
  /** The caller made too many requests; retry after `Retry-After` seconds. */
  RATE_LIMIT_EXCEEDED: 429,
  /** The caller holds too many open event streams. */
  TOO_MANY_STREAMS: 429,
  /** A Seenn job id was used twice. */
  CONFLICT: 409,
  /** Redis answered in a way the store cannot use. */
  STORE_ERROR: 500,
  /** Something failed that the caller cannot fix. */
  INTERNAL_ERROR: 500,
  /** The bridge or the admin route is shutting down; retry (another instance, or this one once restarted). */
  SHUTTING_DOWN: 503,
  /**
   * Only as an SSE `error` event, just before the bridge ends the stream: events were trimmed from the
   * replay stream before this stream could send them. Reconnecting resynchronises (`recovered: false`,
   * then `job.sync`). 410: the events are gone.
   */
  REPLAY_GAP: 410,
} as const;

/** A stable error code: clients branch on it, never on messages. */
export type SeennErrorCode = keyof typeof ERROR_CODES;

/** The base class of every error this package throws. */
export class SeennError extends Error {
  /** Set as a literal so minifiers cannot rename it. */
  override readonly name: string = 'SeennError';
  /** The stable machine-readable code. */
  readonly code: SeennErrorCode;
  /** Structured facts about the error; always an object. */
  readonly details: Record<string, unknown>;

  /**
   * @param code - the stable code
   * @param message - a sentence for humans
   * @param options - `details` for clients and `cause` for logs
   */
  constructor(
    code: SeennErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** The HTTP status this error maps to. */
  get status(): number {
    return ERROR_CODES[this.code];
  }

  /** The wire envelope `{ error: { code, message, details } }`. */
  toJSON(): { error: { code: SeennErrorCode; message: string; details: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** The codes a {@link ValidationError} carries. */
export type ValidationErrorCode = 'VALIDATION_ERROR' | 'PAYLOAD_TOO_LARGE' | 'CONFIG_INVALID';

/**
 * Thrown when input fails validation; `details.issues` lists what was wrong, path by path. Built like
 * every {@link SeennError}: `new ValidationError(code, message, { details, cause })`.
 */
export class ValidationError extends SeennError {
  override readonly name = 'ValidationError';
  declare readonly code: ValidationErrorCode;
  constructor(
    code: ValidationErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}

/** Tells whether `value` is an error thrown by this package. */
export function isSeennError(value: unknown): value is SeennError {
  return value instanceof SeennError;
}
