/**
 * Small HTTP helpers of the bridge: the parsed request URL, log-safe URLs, and the error envelope
 * `{ error: { code, message, details } }` as a route-table answer (`src/route-table.ts`).
 */
import { SeennError } from '../errors.js';
import { errorAnswer, toSeennError as coded, type AnswerHeaders, type RouteAnswer } from '../route-table.js';

/** Query parameters whose values never reach a log. */
const SECRET_PARAMS = ['token', 'access_token'];

/** A request target in absolute form (`http://host:port/path?query`): its scheme and authority. */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * A request target (path and query as the router sees it: `req.url`), parsed. A target in absolute form counts
 * by its path and query only (its authority, even an impossible one like port 99999, is ignored).
 * Throws a `VALIDATION_ERROR` (400) when the target cannot be parsed at all, so callers answer it
 * with the error envelope.
 */
export function requestUrl(requestTarget: string): URL {
  const target = requestTarget.replace(ABSOLUTE_FORM, '');
  try {
    // `//host/...` would be read as an authority: keep it a path.
    return new URL(target.startsWith('/') ? `/.${target}` : `/${target}`, 'http://bridge.invalid');
  } catch (error) {
    throw new SeennError('VALIDATION_ERROR', 'the request target is malformed', { cause: error });
  }
}

/** `path` and `query` with secret parameters (`token`) replaced by `REDACTED`: safe to log. */
export function loggableUrl(path: string, query: URLSearchParams): string {
  const copy = new URLSearchParams(query);
  for (const name of SECRET_PARAMS) if (copy.has(name)) copy.set(name, 'REDACTED');
  const search = copy.toString();
  return search === '' ? path : `${path}?${search}`;
}

/**
 * The error envelope of `error` with its HTTP status. A 401 carries the `WWW-Authenticate`
 * challenge of RFC 6750 (`error="invalid_token"` when a token was given but refused).
 */
export function bridgeErrorAnswer(error: SeennError, headers: AnswerHeaders = {}): RouteAnswer {
  if (error.status === 401) {
    const refused = error.details['reason'] === 'invalid' || error.details['reason'] === 'expired';
    headers = {
      ...headers,
      'WWW-Authenticate': refused ? 'Bearer realm="seenn", error="invalid_token"' : 'Bearer realm="seenn"',
    };
  }
  return errorAnswer(error, headers);
}

/**
 * `error` as a {@link SeennError}: our own errors keep their code; anything else becomes an
 * `INTERNAL_ERROR` whose message reveals nothing (the original is kept as `cause` for logs).
 */
export function toSeennError(error: unknown): SeennError {
  return coded(error);
}
