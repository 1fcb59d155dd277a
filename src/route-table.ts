/**
 * The one HTTP style of the bridge and the admin route (issue 17, item 3): a route table of
 * framework-free handlers, each `(request, deps) → { status, headers?, body }`, matched by
 * {@link matchRoute} and written to Node's `ServerResponse` by {@link writeAnswer}. Each folder has
 * one Express adapter that turns Express's request into a {@link RouteRequest} and sends the answer;
 * the bridge also serves its table straight from a Node `http.Server` (`bridge.attach(server)`).
 *
 * Errors use the package's envelope `{ error: { code, message, details } }`: a request no route
 * matches answers 404 `NOT_FOUND`, a known path with another method 405 `METHOD_NOT_ALLOWED` (with
 * `Allow`), a path that is not valid percent-encoding 400 `VALIDATION_ERROR`.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { SeennError } from './errors.js';

/** One request as handlers see it. */
export interface RouteRequest<Raw = unknown> {
  /** The framework's or Node's own request (handed to `authenticate` hooks; request bodies are read from it). */
  raw: Raw;
  /** The HTTP method, upper case. */
  method: string;
  /** The full path (`basePath` and the route's path), without the query: for logs. */
  path: string;
  /** Where the table is mounted (`/admin`; `''` at the root). */
  basePath: string;
  /** Path parameters of the matched route (`:id` → `params.id`), percent-decoded. */
  params: Readonly<Record<string, string>>;
  /** The query string. */
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

/** Header values of an answer. */
export type AnswerHeaders = Record<string, string | number | readonly string[]>;

/** One answer: a status and a JSON body (or, with `text`, a body of another type), with optional headers. */
export interface RouteAnswer {
  status: number;
  body: unknown;
  headers?: AnswerHeaders;
  /** Sent instead of `body` as JSON: text of `contentType` (Prometheus metrics, a page). */
  text?: { contentType: string; body: string };
}

/** A route handler of a table whose handlers share `Deps`. */
export type RouteHandler<Deps, Raw = unknown> = (req: RouteRequest<Raw>, deps: Deps) => Promise<RouteAnswer>;

/** The methods a table may route (HEAD is routed to GET). */
export type RouteMethod = 'GET' | 'POST' | 'DELETE';

/** One route: a method and a path of literal and `:param` segments. */
export interface Route<Handler> {
  method: RouteMethod;
  path: string;
  handler: Handler;
}

/** What {@link matchRoute} found for a request. */
export type RouteMatch<Handler> =
  | { kind: 'found'; route: Route<Handler>; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: RouteMethod[] }
  | { kind: 'not-found' }
  | { kind: 'malformed' };

/**
 * Finds the route of `method` and `path` (relative to the mount, without the query) in `table`, in
 * table order; HEAD matches GET routes. A trailing slash is ignored, as Express does.
 */
export function matchRoute<Handler>(
  table: readonly Route<Handler>[],
  method: string,
  path: string,
): RouteMatch<Handler> {
  const segments = splitPath(path);
  const wanted = method === 'HEAD' ? 'GET' : method;
  const allowed: RouteMethod[] = [];
  for (const route of table) {
    const params = matchSegments(routeSegments(route.path), segments);
    if (params === null) continue;
    if (route.method !== wanted) {
      if (!allowed.includes(route.method)) allowed.push(route.method);
      continue;
    }
    const decoded: Record<string, string> = {};
    for (const [name, value] of Object.entries(params)) {
      try {
        decoded[name] = decodeURIComponent(value);
      } catch {
        return { kind: 'malformed' };
      }
    }
    return { kind: 'found', route, params: decoded };
  }
  return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'not-found' };
}

/** The coded error of a request {@link matchRoute} found no handler for. */
export function unmatchedError(match: Exclude<RouteMatch<unknown>, { kind: 'found' }>, path: string): SeennError {
  switch (match.kind) {
    case 'method-not-allowed': {
      const allow = allowedMethods(match.allowed);
      return new SeennError('METHOD_NOT_ALLOWED', `this route answers ${allow.join(', ')} only`, {
        details: { allow },
      });
    }
    case 'malformed':
      return new SeennError('VALIDATION_ERROR', 'the request path is malformed');
    case 'not-found':
      return new SeennError('NOT_FOUND', 'no such route', { details: { path } });
  }
}

/** The methods a path answers, as `Allow` and the 405's `details.allow` name them: HEAD wherever GET is. */
function allowedMethods(routeMethods: readonly RouteMethod[]): string[] {
  return routeMethods.includes('GET') ? [...routeMethods, 'HEAD'] : [...routeMethods];
}

/** The answer of an unmatched request: its error envelope, with `Allow` for a 405. */
export function unmatchedAnswer(match: Exclude<RouteMatch<unknown>, { kind: 'found' }>, path: string): RouteAnswer {
  const error = unmatchedError(match, path);
  return match.kind === 'method-not-allowed'
    ? errorAnswer(error, { Allow: allowedMethods(match.allowed).join(', ') })
    : errorAnswer(error);
}

/** The envelope of `error` with its HTTP status (and `headers`, e.g. `WWW-Authenticate`). */
export function errorAnswer(error: SeennError, headers?: AnswerHeaders): RouteAnswer {
  return headers === undefined
    ? { status: error.status, body: error.toJSON() }
    : { status: error.status, body: error.toJSON(), headers };
}

/** An answer of `status` (200 unless given) with `body` and optional `headers`. */
export function jsonAnswer(body: unknown, status = 200, headers?: AnswerHeaders): RouteAnswer {
  return headers === undefined ? { status, body } : { status, body, headers };
}

/**
 * `error` as a {@link SeennError}: our own errors keep their code; anything else becomes an
 * `INTERNAL_ERROR` with `message`, which reveals nothing (the original stays as `cause`, for logs).
 */
export function toSeennError(error: unknown, message = 'the server failed to answer this request'): SeennError {
  if (error instanceof SeennError) return error;
  return new SeennError('INTERNAL_ERROR', message, { cause: error });
}

/** Headers on every JSON answer: never cached, never sniffed. */
const JSON_HEADERS = Object.freeze({
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
});

/**
 * Writes `answer` to Node's response with `Content-Length` (JSON unless `answer.text`); headers set
 * on `res` before (CORS, the admin's) are kept. A response whose head is out already is destroyed
 * (the client sees a cut connection, never a half answer). No body for HEAD.
 */
export function writeAnswer(res: ServerResponse, answer: RouteAnswer, head = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = answer.text === undefined ? JSON.stringify(answer.body) : answer.text.body;
  for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value);
  for (const [name, value] of Object.entries(JSON_HEADERS)) if (!res.hasHeader(name)) res.setHeader(name, value);
  if (answer.text !== undefined) res.setHeader('Content-Type', answer.text.contentType);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.writeHead(answer.status);
  res.end(head ? undefined : text);
}

/** The segments of a request path (empty ones dropped: `/jobs/` is `/jobs`). */
function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

const compiled = new Map<string, string[]>();

/** A route path's segments, split once per path. */
function routeSegments(path: string): string[] {
  let segments = compiled.get(path);
  if (segments === undefined) {
    segments = splitPath(path);
    compiled.set(path, segments);
  }
  return segments;
}

/** The raw `:param` values when `segments` fit `pattern`, else `null`. */
function matchSegments(pattern: readonly string[], segments: readonly string[]): Record<string, string> | null {
  if (pattern.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (const [i, part] of pattern.entries()) {
    const segment = segments[i] as string;
    if (part.startsWith(':')) params[part.slice(1)] = segment;
    else if (part !== segment) return null;
  }
  return params;
}
