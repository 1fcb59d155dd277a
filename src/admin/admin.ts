/**
 * The admin route, independent of any web framework: it validates its options once, guards every
 * request (open → authenticated → for bull-board, allowed to change things), answers the JSON view's
 * routes, and turns thrown errors into the coded envelope. `express-adapter.ts` mounts it.
 */
import type { SeennContext } from '../context.js';
import type { SeennError } from '../errors.js';
import type { Logger } from '../logger.js';
import { AdminAuthenticator } from './auth.js';
import { authGuard, mutationGuard, openGuard, runGuards, type Guard } from './guards.js';
import type { AdminDeps, AdminHandler, AdminJobReader } from './handlers.js';
import { errorResponse, toSeennError, type AdminRequest, type AdminResponse } from './http.js';
import { resolveAdminOptions, type AdminOptions, type ResolvedAdminOptions } from './options.js';

/** Serves the admin route of one Seenn instance. */
export class Admin<Req> {
  /** The resolved options. */
  readonly options: ResolvedAdminOptions<Req>;
  private readonly deps: AdminDeps;
  private readonly logger: Logger;
  /** Every request passes these. */
  private readonly guards: readonly Guard<Req>[];
  /** Requests to bull-board pass these too. */
  private readonly boardGuards: readonly Guard<Req>[];
  private boardError: SeennError | null = null;
  private closed = false;

  /**
   * @param ctx - the Seenn context
   * @param jobs - `seenn.jobs`: job objects are read through it
   * @param options - see {@link AdminOptions}; validated here (throws `CONFIG_INVALID`)
   */
  constructor(ctx: SeennContext, jobs: AdminJobReader, options: AdminOptions<Req>) {
    this.options = resolveAdminOptions(options);
    this.deps = { ctx, jobs, queues: this.options.queues, boardPath: this.options.boardPath };
    this.logger = ctx.logger.child({ module: 'admin' });
    this.guards = [openGuard(() => !this.closed), authGuard(new AdminAuthenticator(this.options.auth))];
    this.boardGuards = [...this.guards, mutationGuard(this.options.readOnly)];
  }

  /** Answers one request of the JSON view: the guards, then `handler`. Never throws. */
  async handle(handler: AdminHandler, req: AdminRequest<Req>): Promise<AdminResponse> {
    try {
      return (await runGuards(this.guards, req)) ?? (await handler(req, this.deps));
    } catch (error) {
      return this.failed(req, error);
    }
  }

  /**
   * Whether a request may reach bull-board: `null` lets it through, else the answer to send (a
   * refusal, or the coded error of a board that could not be built). Never throws.
   */
  async admitToBoard(req: AdminRequest<Req>): Promise<AdminResponse | null> {
    try {
      const refusal = await runGuards(this.boardGuards, req);
      if (refusal !== null) return refusal;
      return this.boardError === null ? null : errorResponse(this.boardError);
    } catch (error) {
      return this.failed(req, error);
    }
  }

  /**
   * Answers a request the route table has no handler for (`unmatched`: 404, 405 or a malformed path)
   * once the guards let it through, so an unauthenticated caller learns nothing. Never throws.
   */
  refuse(req: AdminRequest<Req>, unmatched: AdminResponse): Promise<AdminResponse> {
    return this.handle(async () => unmatched, req);
  }

  /** Records that bull-board could not be loaded: requests to it answer `error` (after the guards). */
  boardUnavailable(error: SeennError): void {
    this.boardError = error;
    this.logger.warn({ err: error.cause ?? error }, error.message);
  }

  /** Refuses every later request (`seenn.close()` calls it); queues are closed by the Seenn context. */
  async close(): Promise<void> {
    this.closed = true;
  }

  private failed(req: AdminRequest<Req>, error: unknown): AdminResponse {
    const coded = toSeennError(error);
    // Only the method and path are logged: never headers (they carry the credentials) or the query.
    if (coded.status >= 500)
      this.logger.error({ err: error, method: req.method, path: req.path }, 'admin: request failed');
    return errorResponse(coded);
  }
}
