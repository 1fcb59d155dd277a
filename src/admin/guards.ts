/**
 * Guards: checks that run before a handler and either let the request through (`null`) or answer it
 * themselves. They compose in order, the same way for the JSON view and for bull-board.
 */
import { SeennError } from '../errors.js';
import type { AdminAuthenticator } from './auth.js';
import { errorResponse, type AdminRequest, type AdminResponse } from './http.js';

/** A check before a handler: `null` lets the request through, an answer refuses it. */
export type Guard<Req> = (req: AdminRequest<Req>) => Promise<AdminResponse | null>;

/** Methods that change nothing. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Runs `guards` in order; the first refusal is the answer, `null` when all let the request through. */
export async function runGuards<Req>(guards: readonly Guard<Req>[], req: AdminRequest<Req>): Promise<AdminResponse | null> {
  for (const guard of guards) {
    const refusal = await guard(req);
    if (refusal !== null) return refusal;
  }
  return null;
}

/** Refuses every request once the route is closed (`seenn.close()`). */
export function openGuard<Req>(isOpen: () => boolean): Guard<Req> {
  return async () => (isOpen() ? null : errorResponse(new SeennError('INTERNAL_ERROR', 'the admin route is shut down')));
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
 * answer 403 `FORBIDDEN`; otherwise a browser request from another site is refused (its
 * `Sec-Fetch-Site` is not `same-origin`), so cached Basic credentials cannot be used across sites.
 */
export function mutationGuard<Req>(readOnly: boolean): Guard<Req> {
  return async (req) => {
    if (SAFE_METHODS.has(req.method)) return null;
    if (readOnly) return errorResponse(new SeennError('FORBIDDEN', 'the admin route is read-only (readOnly: true)', { details: { reason: 'read-only' } }));
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      return errorResponse(new SeennError('FORBIDDEN', 'actions must come from the admin page itself', { details: { reason: 'cross-site' } }));
    }
    return null;
  };
}
