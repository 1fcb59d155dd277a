/**
 * The Express adapter: the one file of the bridge that knows Express. It mounts the framework-free
 * {@link Bridge} handlers on an Express 5 `Router`. Express is an optional peer dependency, loaded
 * only when a bridge is built.
 */
import { createRequire } from 'node:module';
import type * as Express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { Authenticator } from './authenticate.js';
import { Bridge } from './bridge.js';
import { resolveBridgeOptions } from './options.js';
import { RateLimiter } from './rate-limiter.js';
import { WRITE_API_DEFAULTS, WriteApi, answerCancel, type CancelRouteContext } from './write-api.js';
import { mountWriteApi } from './write-express.js';
import { sendError, toSeennError } from './http.js';
import type { BridgeOptions } from './options.js';
import type { RestJobReader } from './rest.js';

/** Bridge options as an Express app writes them (`authenticate` receives Express's `Request`). */
export type ExpressBridgeOptions = BridgeOptions<Request>;

/** An Express router serving the bridge routes, with the bridge behind it. */
export type BridgeRouter = Router & {
  /** The framework-free bridge (its `stats` and `close()`). */
  readonly bridge: Bridge<Request>;
};

type ExpressModule = typeof Express;

const require = createRequire(import.meta.url);

function loadExpress(): ExpressModule {
  try {
    return require('express') as ExpressModule;
  } catch (error) {
    throw new SeennError('CONFIG_INVALID', 'seenn.bridge() needs the `express` package (npm install express@5)', {
      cause: error,
    });
  }
}

/**
 * Lets go of what Express keeps on a request for its routing (the chain of `next` closures, the
 * parsed-URL cache): a stream never calls `next`, and it would otherwise hold them (about 1 KiB)
 * for as long as it is open.
 */
function releaseRouting(req: Request): void {
  req.next = undefined;
  (req as { _parsedUrl?: unknown })._parsedUrl = undefined;
}

/**
 * Builds the bridge and its router. Mount it where clients expect it: Seenn SDKs use `/v1`.
 *
 * @example
 * ```ts
 * app.use('/v1', seenn.bridge({ heartbeatMs: 15_000 }));
 * ```
 */
export function createBridgeRouter(
  ctx: SeennContext,
  jobs: RestJobReader,
  options: ExpressBridgeOptions = {},
): BridgeRouter {
  const express = loadExpress();
  const bridge = new Bridge<Request>(ctx, jobs, options);
  const router = express.Router();
  const resolved = resolveBridgeOptions(options, ctx.options.tokenSecret);
  const users = new Authenticator<Request>(resolved.auth, ctx.options.appId, resolved.maxTokenAgeSeconds);
  if (options.writeApi !== undefined) {
    mountWriteApi(router, new WriteApi<Request>(ctx, jobs, options.writeApi, users, resolved.rateLimit));
  } else {
    // Cancel is ours: a job's owner may cancel it on every bridge (backend keys need `writeApi`).
    const route: CancelRouteContext<Request> = {
      ctx,
      jobs,
      users,
      backendOf: () => Promise.resolve(null),
      backendLimiter: null,
      userLimiter: resolved.rateLimit === null ? null : new RateLimiter(resolved.rateLimit),
      maxBodyBytes: WRITE_API_DEFAULTS.maxBodyBytes,
    };
    router.post('/jobs/:id/cancel', (req, res) => answerCancel(route, req, res, String(req.params['id'])));
  }
  router.get('/sse', (req, res) => {
    const streaming = bridge.handleSse(req, res);
    releaseRouting(req);
    return streaming;
  });
  router.get('/jobs', (req, res) => bridge.handleListJobs(req, res));
  router.get('/jobs/:id/output', (req, res) => bridge.handleOutput(req, res, String(req.params['id'])));
  router.get('/jobs/:id/children', (req, res) => bridge.handleChildren(req, res, String(req.params['id'])));
  router.get('/jobs/:id', (req, res) => bridge.handleGetJob(req, res, String(req.params['id'])));
  // An error raised while Express matches these routes (e.g. a path parameter that is not valid
  // percent-encoding, `/jobs/%ZZ`) gets the JSON envelope, never Express's HTML page and stack.
  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = (error as { status?: unknown } | null)?.status;
    sendError(
      res,
      typeof status === 'number' && status >= 400 && status < 500
        ? new SeennError('VALIDATION_ERROR', 'the request path is malformed')
        : toSeennError(error),
    );
  });
  return Object.assign(router, { bridge });
}
