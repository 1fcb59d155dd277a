/**
 * The Express adapter: the one file of the bridge that knows Express. It mounts the framework-free
 * {@link Bridge} (its event stream and its route table, `Bridge.serve`) on an Express 5 `Router`. Express is an optional peer dependency, loaded
 * only when a bridge is built.
 */
import { createRequire } from 'node:module';
import type * as Express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { writeAnswer } from '../route-table.js';
import { Bridge } from './bridge.js';
import { bridgeErrorAnswer, toSeennError } from './http.js';
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
  // The bridge's whole table behind one handler: `req.url` is the path below the mount here.
  router.use((req, res) => {
    const serving = bridge.serve(req, res, req.baseUrl, req.url);
    releaseRouting(req);
    return serving;
  });
  // An error raised before the handler (by Express itself) gets the JSON envelope, never Express's
  // HTML page and stack.
  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = (error as { status?: unknown } | null)?.status;
    writeAnswer(
      res,
      bridgeErrorAnswer(
        typeof status === 'number' && status >= 400 && status < 500
          ? new SeennError('VALIDATION_ERROR', 'the request path is malformed')
          : toSeennError(error),
      ),
    );
  });
  return Object.assign(router, { bridge });
}
