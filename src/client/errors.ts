/**
 * The one error class of the client. Server answers keep the server's stable `code`
 * (`{ error: { code, message, details } }`); problems the client meets itself get a client code.
 */

/** Codes the client produces itself (server codes such as `NOT_FOUND` pass through unchanged). */
export const CLIENT_ERROR_CODES = [
  /** Options given to `new SeennClient` are invalid. */
  'CLIENT_CONFIG_INVALID',
  /** The request never got an HTTP answer (DNS, refused, reset, offline). */
  'NETWORK_ERROR',
  /** The request took longer than `requestTimeoutMs`. */
  'TIMEOUT',
  /** The server answered in a way the client cannot read (not JSON, not a job). */
  'BAD_RESPONSE',
  /** The event stream route is missing or does not speak `text/event-stream`. */
  'SSE_UNAVAILABLE',
  /** The server answered with an error but no error envelope. */
  'HTTP_ERROR',
  /** The token provider threw or returned something that is not a non-empty string. */
  'TOKEN_PROVIDER_FAILED',
  /** A listener of the client's events threw. */
  'LISTENER_FAILED',
  /** The storage adapter that keeps the last event id threw. */
  'STORAGE_FAILED',
  /** `maxReconnectAttempts` reconnects in a row failed; the client stopped. */
  'RECONNECT_FAILED',
  /** The bridge sent an `error` event without a code. */
  'SERVER_ERROR',
] as const;

/** A code the client produces itself. */
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** An error met by the client: a server error (with its HTTP `status`) or a client-side problem. */
export class SeennClientError extends Error {
  /** Set as a literal so minifiers cannot rename it. */
  override readonly name: string = 'SeennClientError';
  /** Stable machine-readable code: the server's (`UNAUTHORIZED`, `NOT_FOUND`, …) or a {@link ClientErrorCode}. */
  readonly code: string;
  /** The HTTP status, when the error is an HTTP answer. */
  readonly status: number | undefined;
  /** Structured facts; always an object. */
  readonly details: Record<string, unknown>;

  /**
   * @param code - the stable code
   * @param message - a sentence for humans
   * @param options - HTTP `status`, `details` and `cause`
   */
  constructor(
    code: string,
    message: string,
    options: { status?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.details = options.details ?? {};
  }
}

/** Builds the error for a non-2xx answer, reading the server's `{ error: { code, message, details } }` when present. */
export async function errorFromResponse(response: Response, what: string): Promise<SeennClientError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const envelope = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  if (typeof envelope === 'object' && envelope !== null) {
    const { code, message, details } = envelope as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof code === 'string') {
      return new SeennClientError(
        code,
        typeof message === 'string' ? message : `${what} failed with HTTP ${response.status}`,
        {
          status: response.status,
          details: typeof details === 'object' && details !== null ? (details as Record<string, unknown>) : {},
        },
      );
    }
  }
  return new SeennClientError('HTTP_ERROR', `${what} failed with HTTP ${response.status}`, { status: response.status });
}
