/**
 * The admin route's framework-free request and answer shapes: handlers and guards take an
 * {@link AdminRequest} and give an {@link AdminResponse} (`{ status, body }`); an adapter maps them to
 * its framework. Errors use the package's envelope `{ error: { code, message, details } }`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { SeennError } from '../errors.js';

/** One request as handlers and guards see it. */
export interface AdminRequest<Req> {
  /** The framework's own request (handed to an `authenticate` hook). */
  raw: Req;
  /** The HTTP method, upper case. */
  method: string;
  /** The full path without the query (for logs). */
  path: string;
  /** Where the admin route is mounted (`/admin`; `''` at the root): links in pages are built on it. */
  basePath: string;
  /** Path parameters of the matched route (`:id` → `params.id`). */
  params: Readonly<Record<string, string>>;
  /** The query string. */
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

/** One answer: a status and a JSON body (or, with `text`, a body of another type), with optional headers. */
export interface AdminResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string | readonly string[]>;
  /** Sent instead of `body` as JSON: text of `contentType` (Prometheus metrics, the admin page). */
  text?: { contentType: string; body: string };
}

/**
 * Headers on every answer of the admin route (its JSON, its page, bull-board and its assets): never
 * cached (they show queue contents and carry credentials' results), never framed (no clickjacking of
 * a writable board), never sniffed, and no referrer leaking admin paths.
 */
export const ADMIN_RESPONSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
});

/** An answer of 200 with `body`. */
export function ok(body: unknown): AdminResponse {
  return { status: 200, body };
}

/** The envelope of `error` with its HTTP status (and `headers`, e.g. `WWW-Authenticate`). */
export function errorResponse(error: SeennError, headers?: Record<string, string | readonly string[]>): AdminResponse {
  return headers === undefined
    ? { status: error.status, body: error.toJSON() }
    : { status: error.status, body: error.toJSON(), headers };
}

/**
 * `error` as a {@link SeennError}: our own errors keep their code; anything else becomes an
 * `INTERNAL_ERROR` whose message reveals nothing (the original stays as `cause`, for logs).
 */
export function toSeennError(error: unknown): SeennError {
  if (error instanceof SeennError) return error;
  return new SeennError('INTERNAL_ERROR', 'the admin route failed to answer this request', { cause: error });
}
