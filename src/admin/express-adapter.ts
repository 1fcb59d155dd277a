/**
 * The Express adapter: the one file of the admin route that knows Express. It walks the route table,
 * runs the guards in front of bull-board (`@bull-board/express`, an optional peer dependency loaded
 * only when `boardPath` is set), and answers everything else with a guarded 404.
 */
import { createRequire } from 'node:module';
import type * as BullBoardExpress from '@bull-board/express';
import type { AppViewRoute } from '@bull-board/api/typings/app';
import type * as Express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import type { SeennContext } from '../context.js';
import { SeennError, isSeennError } from '../errors.js';
import { Admin } from './admin.js';
import { boardUnavailableError, createBoard, loadBullBoardApi, type ModuleLoader } from './board.js';
import type { AdminJobReader } from './handlers.js';
import { ADMIN_RESPONSE_HEADERS, type AdminRequest, type AdminResponse } from './http.js';
import type { AdminOptions } from './options.js';
import { ADMIN_ROUTES } from './routes.js';
import { matchRoute, unmatchedAnswer, writeAnswer } from '../route-table.js';

/** Admin options as an Express app writes them (`authenticate` receives Express's `Request`). */
export type ExpressAdminOptions = AdminOptions<Request>;

/** An Express router serving the admin route, with the framework-free admin behind it. */
export type AdminRouter = Router & {
  /** @internal The framework-free admin route (its resolved `options` and `close()`). */
  readonly admin: Admin<Request>;
};

const nodeRequire = createRequire(import.meta.url);

/**
 * Builds the admin route and its router. Every request is authenticated first, so an unauthenticated
 * caller learns nothing, not even which paths exist.
 *
 * @param load - how modules are loaded (tests stand in a loader without bull-board); typed inline so
 *   this file's declarations never reference bull-board's optional types
 */
export function createAdminRouter(
  ctx: SeennContext,
  jobs: AdminJobReader,
  options: ExpressAdminOptions,
  load: (id: string) => unknown = nodeRequire,
): AdminRouter {
  const admin = new Admin<Request>(ctx, jobs, options);
  const express = loadExpress(load);
  const router = express.Router();
  // First, so every answer carries them, including bull-board's and its static files' (which keep a
  // Cache-Control already set).
  router.use((_req, res, next) => {
    for (const [name, value] of Object.entries(ADMIN_RESPONSE_HEADERS)) res.setHeader(name, value);
    next();
  });
  const { boardPath } = admin.options;
  if (boardPath !== null) {
    const board = buildBoard(ctx, admin, load);
    router.use(boardPath, async (req, res, next) => {
      const answer = await admin.admitToBoard(adminRequest(req));
      if (answer !== null) send(res, answer, req.method === 'HEAD');
      else if (board !== null) board(req, res, next);
      else next();
    });
  }
  // One dispatcher for the JSON view's table (the package's route-table style, `src/route-table.ts`):
  // its handler after the guards, else a guarded 404 or 405.
  router.use(async (req, res) => {
    const request = adminRequest(req);
    const match = matchRoute(ADMIN_ROUTES, req.method, req.path);
    const answer =
      match.kind === 'found'
        ? await admin.handle(match.route.handler, { ...request, params: match.params })
        : await admin.refuse(request, unmatchedAnswer(match, request.path));
    send(res, answer, req.method === 'HEAD');
  });
  // An error raised while Express matches a route (a path that is not valid percent-encoding) is
  // answered like any request, guards first, with the JSON envelope: never Express's HTML page and
  // stack, and nothing before the credentials are checked.
  router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (error as { status?: unknown } | null)?.status;
    const refusal =
      typeof status === 'number' && status >= 400 && status < 500
        ? new SeennError('VALIDATION_ERROR', 'the request path is malformed')
        : error;
    void admin
      .handle(() => Promise.reject(refusal), adminRequest(req))
      .then((answer) => send(res, answer, req.method === 'HEAD'))
      .catch(() => res.destroy());
  });
  return Object.assign(router, { admin });
}

/** bull-board's Express app for the admin's queues, or `null` (recorded on `admin`) when it is not installed. */
function buildBoard(
  ctx: Pick<SeennContext, 'queue'>,
  admin: Admin<Request>,
  load: ModuleLoader,
): Express.RequestHandler | null {
  try {
    const api = loadBullBoardApi(load);
    let adapterModule: typeof BullBoardExpress;
    try {
      adapterModule = load('@bull-board/express') as typeof BullBoardExpress;
    } catch (error) {
      throw boardUnavailableError(error);
    }
    const serverAdapter = new (mountAwareAdapter(adapterModule.ExpressAdapter))();
    createBoard(api, serverAdapter, ctx, admin.options.queues, admin.options.readOnly);
    return serverAdapter.getRouter() as Express.RequestHandler;
  } catch (error) {
    admin.boardUnavailable(isSeennError(error) ? error : boardUnavailableError(error));
    return null;
  }
}

/**
 * bull-board's `ExpressAdapter`, except that its page takes its base path from where the router is
 * mounted (`req.baseUrl`) instead of a path fixed in advance: the app chooses where `/admin` lives.
 */
function mountAwareAdapter(Base: typeof BullBoardExpress.ExpressAdapter): typeof BullBoardExpress.ExpressAdapter {
  return class MountAwareExpressAdapter extends Base {
    override setEntryRoute(routeDef: AppViewRoute): MountAwareExpressAdapter {
      const view = (req: Request, res: Response): void => {
        const { name, params } = routeDef.handler({ basePath: req.baseUrl, uiConfig: this.uiConfig });
        res.render(name, params);
      };
      (this.app as Express.Express).get(routeDef.route, view);
      return this;
    }
  };
}

function loadExpress(load: ModuleLoader): typeof Express {
  try {
    return load('express') as typeof Express;
  } catch (error) {
    throw new SeennError('CONFIG_INVALID', 'seenn.admin() needs the `express` package (npm install express@5)', {
      cause: error,
    });
  }
}

/** Express's request in the admin's framework-free shape. */
function adminRequest(req: Request): AdminRequest<Request> {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.params ?? {})) if (typeof value === 'string') params[name] = value;
  return {
    raw: req,
    method: req.method,
    path: `${req.baseUrl}${req.path}`,
    basePath: req.baseUrl,
    params,
    // From the raw target: `new URL` would throw on an impossible authority (`http://a:99999/…`).
    query: new URLSearchParams(queryOf(req.url)),
    headers: req.headers,
  };
}

/** The query string of a request target (origin or absolute form), without `?` and any fragment. */
function queryOf(target: string): string {
  const start = target.indexOf('?');
  return start < 0 ? '' : (target.slice(start + 1).split('#')[0] ?? '');
}

/** Writes one answer (the admin's headers are on `res` already). */
function send(res: Response, answer: AdminResponse, head: boolean): void {
  writeAnswer(res, answer, head);
}
