/**
 * The admin route's request and answer shapes: the package's one route-table style
 * (`src/route-table.ts`), under the admin's names. Handlers and guards take an {@link AdminRequest}
 * and give an {@link AdminResponse} (`{ status, headers?, body }`); the Express adapter maps them.
 */
import type { SeennError } from '../errors.js';
import {
  errorAnswer,
  toSeennError as coded,
  type AnswerHeaders,
  type RouteAnswer,
  type RouteRequest,
} from '../route-table.js';

/** One request as handlers and guards see it. */
export type AdminRequest<Req> = RouteRequest<Req>;

/** One answer: a status and a JSON body (or, with `text`, a body of another type), with optional headers. */
export type AdminResponse = RouteAnswer;

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
export function errorResponse(error: SeennError, headers?: AnswerHeaders): AdminResponse {
  return errorAnswer(error, headers);
}

/**
 * `error` as a {@link SeennError}: our own errors keep their code; anything else becomes an
 * `INTERNAL_ERROR` whose message reveals nothing (the original stays as `cause`, for logs).
 */
export function toSeennError(error: unknown): SeennError {
  return coded(error, 'the admin route failed to answer this request');
}
