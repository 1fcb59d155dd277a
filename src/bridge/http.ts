/**
 * Small HTTP helpers on Node's `IncomingMessage` / `ServerResponse`: JSON bodies, the error envelope
 * `{ error: { code, message, details } }`, query access and log-safe URLs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SeennError } from '../errors.js';

/** Query parameters whose values never reach a log. */
const SECRET_PARAMS = ['token', 'access_token'];

/** The request URL (path and query as the router sees it), parsed. */
export function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://bridge.invalid');
}

/** The path and query of `url` with secret parameters (`token`) replaced by `REDACTED`: safe to log. */
export function loggableUrl(url: URL): string {
  const copy = new URL(url.href);
  for (const name of SECRET_PARAMS) if (copy.searchParams.has(name)) copy.searchParams.set(name, 'REDACTED');
  return `${copy.pathname}${copy.search}`;
}

/** Writes `body` as JSON with `status` (never 204: Seenn SDKs always parse the body). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | number> = {}): void {
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
  });
  res.end(text);
}

/** Writes the error envelope of `error` with its HTTP status. */
export function sendError(res: ServerResponse, error: SeennError, headers: Record<string, string | number> = {}): void {
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
