/**
 * Small HTTP helpers on Node's `IncomingMessage` / `ServerResponse`: JSON bodies, the error envelope
 * `{ error: { code, message, details } }`, query access and log-safe URLs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SeennError } from '../errors.js';

/** Query parameters whose values never reach a log. */
const SECRET_PARAMS = ['token', 'access_token'];

/** A request target in absolute form (`http://host:port/path?query`): its scheme and authority. */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * The request URL (path and query as the router sees it), parsed. A target in absolute form counts
 * by its path and query only (its authority, even an impossible one like port 99999, is ignored).
 * Throws a `VALIDATION_ERROR` (400) when the target cannot be parsed at all, so callers answer it
 * with the error envelope.
 */
export function requestUrl(req: IncomingMessage): URL {
  const target = (req.url ?? '/').replace(ABSOLUTE_FORM, '');
  try {
    // `//host/...` would be read as an authority: keep it a path.
    return new URL(target.startsWith('/') ? `/.${target}` : `/${target}`, 'http://bridge.invalid');
  } catch (error) {
    throw new SeennError('VALIDATION_ERROR', 'the request target is malformed', { cause: error });
  }
}

/** The path and query of `url` with secret parameters (`token`) replaced by `REDACTED`: safe to log. */
export function loggableUrl(url: URL): string {
  const copy = new URL(url.href);
  for (const name of SECRET_PARAMS) if (copy.searchParams.has(name)) copy.searchParams.set(name, 'REDACTED');
  return `${copy.pathname}${copy.search}`;
}

/** Writes `body` as JSON with `status` (never 204: Seenn SDKs always parse the body). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | number> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(text);
}

/**
 * Writes the error envelope of `error` with its HTTP status. A 401 carries the `WWW-Authenticate`
 * challenge of RFC 6750 (`error="invalid_token"` when a token was given but refused).
 */
export function sendError(res: ServerResponse, error: SeennError, headers: Record<string, string | number> = {}): void {
  if (error.status === 401) {
    const refused = error.details['reason'] === 'invalid' || error.details['reason'] === 'expired';
    headers = {
      ...headers,
      'WWW-Authenticate': refused ? 'Bearer realm="seenn", error="invalid_token"' : 'Bearer realm="seenn"',
    };
  }
  sendJson(res, error.status, error.toJSON(), headers);
}

/**
 * `error` as a {@link SeennError}: our own errors keep their code; anything else becomes an
 * `INTERNAL_ERROR` whose message reveals nothing (the original is kept as `cause` for logs).
 */
export function toSeennError(error: unknown): SeennError {
  if (error instanceof SeennError) return error;
  return new SeennError('INTERNAL_ERROR', 'the server failed to answer this request', { cause: error });
}
