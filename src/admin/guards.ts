/**
 * Guards: checks that run before a handler and either let the request through (`null`) or answer it
 * themselves. They compose in order, the same way for the JSON view and for bull-board.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { SeennError } from '../errors.js';
import type { AdminAuthenticator } from './auth.js';
import { errorResponse, type AdminRequest, type AdminResponse } from './http.js';

/** A check before a handler: `null` lets the request through, an answer refuses it. */
export type Guard<Req> = (req: AdminRequest<Req>) => Promise<AdminResponse | null>;

/** Methods that change nothing. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Runs `guards` in order; the first refusal is the answer, `null` when all let the request through. */
export async function runGuards<Req>(
  guards: readonly Guard<Req>[],
  req: AdminRequest<Req>,
): Promise<AdminResponse | null> {
  for (const guard of guards) {
    const refusal = await guard(req);
    if (refusal !== null) return refusal;
  }
  return null;
}

/** Refuses every request once the route is closed (`seenn.close()`). */
export function openGuard<Req>(isOpen: () => boolean): Guard<Req> {
  return async () => (isOpen() ? null : errorResponse(new SeennError('SHUTTING_DOWN', 'the admin route is shut down')));
}

/** Answers 401 `UNAUTHORIZED` unless the authenticator accepts the request. */
export function authGuard<Req>(authenticator: AdminAuthenticator<Req>): Guard<Req> {
  return async (req) => {
    if (await authenticator.check(req)) return null;
    const challenges = authenticator.challenges();
    const error = new SeennError('UNAUTHORIZED', 'the admin route needs credentials: `Authorization: Bearer <token>`');
    return challenges === null ? errorResponse(error) : errorResponse(error, { 'WWW-Authenticate': challenges });
  };
}

/**
 * Guards actions that change queues (every method but GET, HEAD and OPTIONS): with `readOnly` they
 * answer 403 `FORBIDDEN`; otherwise a request must prove it does not ride on credentials a browser
 * attaches by itself (cached Basic auth, an app's session cookie) from another site:
 * - a browser's `Sec-Fetch-Site` must be `same-origin` (or `none`: typed by the user);
 * - without it, an `Origin` must name the admin's own host (the request's `Host`);
 * - without either, the request must carry `Authorization: Bearer`, which no browser sends unasked.
 * Anything else answers 403 `FORBIDDEN` with `details.reason: 'cross-site'`.
 */
export function mutationGuard<Req>(readOnly: boolean): Guard<Req> {
  return async (req) => {
    if (SAFE_METHODS.has(req.method)) return null;
    if (readOnly)
      return errorResponse(
        new SeennError('FORBIDDEN', 'the admin route is read-only (readOnly: true)', {
          details: { reason: 'read-only' },
        }),
      );
    if (isFromOwnOrigin(req.headers)) return null;
    return errorResponse(
      new SeennError(
        'FORBIDDEN',
        'actions must come from the admin page itself (or a script sending `Authorization: Bearer`)',
        { details: { reason: 'cross-site' } },
      ),
    );
  };
}

/** Whether a mutating request shows it comes from the admin's own origin, or from a script holding the token. */
export function isFromOwnOrigin(headers: IncomingHttpHeaders): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = headers.origin;
  if (origin !== undefined) return originHost(origin) !== null && originHost(origin) === headers.host?.toLowerCase();
  return /^Bearer[ ]/i.test(headers.authorization ?? '');
}

/** The `host[:port]` of an `Origin` header, lower case; `null` for `null` or anything unparsable. */
function originHost(origin: string): string | null {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.host.toLowerCase() : null;
  } catch {
    return null;
  }
}
