/**
 * The bridge, independent of any web framework: `GET /sse` (the user's event stream, on Node's
 * `IncomingMessage` / `ServerResponse`), and a route table (`src/route-table.ts`) of REST handlers —
 * `GET /jobs/:id`, `GET /jobs`, `GET /jobs/:id/children`, `GET /jobs/:id/output`,
 * `POST /jobs/:id/cancel`, and with `writeApi` Seenn's write routes (`write-api.ts`) — each giving
 * `{ status, headers?, body }`; the live hub, and the per-user limits. {@link Bridge.serve} answers
 * one Node request from all of them; `express-adapter.ts` mounts it on an Express router.
 *
 * A bridge process holds nothing but its open sockets: several processes behind one Redis serve the
 * same users interchangeably, and a client may reconnect to any of them with its cursor.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Principal } from '../auth/tokens.js';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isJobIdShape } from '../model/ids.js';
import { JobStore } from '../store/job-store.js';
import { openStreamReadConnection, type StreamReadConnection } from '../store/stream-read-connection.js';
import { JobsApi } from '../jobs-api.js';
import { PositionReader } from '../position/index.js';
import {
  jsonAnswer,
  matchRoute,
  unmatchedAnswer,
  writeAnswer,
  type AnswerHeaders,
  type Route,
  type RouteAnswer,
  type RouteRequest,
} from '../route-table.js';
import { Authenticator, checkUserParam, jobNotFound } from './authenticate.js';
import { bridgeErrorAnswer, loggableUrl, requestUrl, toSeennError } from './http.js';
import { LiveHub, type HubStats } from './live-hub.js';
import { LivePositions } from './live-positions.js';
import { resolveBridgeOptions, type BridgeOptions, type ResolvedBridgeOptions } from './options.js';
import { RateLimitExceeded, RateLimiter, spendBudget } from './rate-limiter.js';
import { getChildren, getJob, listJobs, type RestJobReader } from './rest.js';
import { parseOutputRequest } from './live-output.js';
import { getOutput } from './output-rest.js';
import { SSE_HEADERS, SseSession, type SessionServices } from './sse-session.js';
import { NodeSseConnection } from './node-connection.js';
import { WRITE_API_DEFAULTS, WriteApi, answerCancel } from './write-api.js';
import { decoratedJobReader } from './sync.js';
import { formatValue, type Frame } from './frames.js';

/** A handler of the bridge's route table (its dependencies are the bridge's own). */
export type BridgeHandler<Req> = (req: RouteRequest<Req>) => Promise<RouteAnswer>;

/** The path of the event stream, below where the bridge is mounted. */
const SSE_PATH = '/sse';

/** The longest interval of the streams' ticker: expiry and idle are checked at least this often. */
const MAX_TICK_MS = 1_000;

/** Counters for diagnostics and tests. */
export interface BridgeStats {
  /** Streams open on this process. */
  streams: number;
  /** Of those, streams whose socket is detached from the HTTP server (no request or response kept; see `detach.ts`). */
  detachedStreams: number;
  /** The live hub's counters. */
  hub: HubStats;
  /** Streams closed because their client stopped reading. */
  slowClientDisconnects: number;
  /** Queued jobs watched for live positions (0 when `positionIntervalMs` is `null`). */
  watchedJobs: number;
}

/** Serves Seenn-compatible SSE and REST for one Seenn instance. */
export class Bridge<Req extends IncomingMessage = IncomingMessage> {
  private readonly options: ResolvedBridgeOptions<Req>;
  private readonly authenticator: Authenticator<Req>;
  private readonly hub: LiveHub;
  private readonly positions: LivePositions | null;
  private readonly limiter: RateLimiter | null;
  private readonly connectLimiter: RateLimiter | null;
  private readonly sessions = new Set<SseSession>();
  private readonly logger: Logger;
  private slowClientDisconnects = 0;
  private detachedStreams = 0;
  private closing: Promise<void> | undefined;
  /**
   * The streams' own auto-pipelined Redis connection (see `store/stream-read-connection.ts`); `null`
   * on a Cluster, where the store's own connection serves.
   */
  private readonly streamReads: StreamReadConnection | null;

  /**
   * @internal Use `seenn.bridge(options)`.
   * @param ctx - the Seenn context (Redis, keys, store, logger, options)
   * @param jobs - `seenn.jobs`: every job object served is read through it
   * @param options - see {@link BridgeOptions}; validated here (throws `CONFIG_INVALID`)
   */
  constructor(
    private readonly ctx: SeennContext,
    private readonly jobs: RestJobReader,
    options: BridgeOptions<Req> = {},
  ) {
    this.options = resolveBridgeOptions(options, ctx.options.tokenSecret);
    this.logger = ctx.logger.child({ module: 'bridge' });
    this.authenticator = new Authenticator(this.options.auth, ctx.options.appId, this.options.maxTokenAgeSeconds);
    const { positionIntervalMs } = this.options;
    const positions =
      positionIntervalMs === null
        ? null
        : new LivePositions(
            ctx,
            positionIntervalMs,
            this.logger,
            (event) => this.hub.sendPosition(event),
            ctx.options.positions,
          );
    this.positions = positions;
    this.hub = new LiveHub(ctx, this.logger, positions === null ? undefined : (event) => positions.decorate(event));
    this.limiter = this.options.rateLimit === null ? null : new RateLimiter(this.options.rateLimit);
    this.connectLimiter =
      this.options.connectRateLimit === null ? null : new RateLimiter(this.options.connectRateLimit);
    this.streamReads = openStreamReadConnection(ctx.redis, (error) =>
      this.logger.warn({ err: error }, 'bridge: stream read connection error'),
    );
    const decorations = new PositionReader(ctx, ctx.options.positions);
    const streamStore =
      this.streamReads === null
        ? ctx.store
        : new JobStore(this.streamReads.redis, ctx.keys, ctx.options.retention, this.logger, ctx.metrics);
    this.routes = this.buildRoutes(options);
    this.hasHooks =
      this.options.auth.kind === 'hook' || (options.writeApi !== undefined && 'authenticate' in options.writeApi);
    this.services = {
      store: streamStore,
      output: ctx.output,
      // `seenn.jobs` itself: its lists go through the stream connection when there is one (same
      // decoration), and it reads the user's unfinished jobs too; any other reader (a test's, an
      // app's) is used as given.
      jobs:
        jobs instanceof JobsApi
          ? decoratedJobReader(streamStore, (records) => decorations.decorate(records), jobs)
          : jobs,
      hub: this.hub,
      positions,
      options: this.options,
      logger: this.logger,
      metrics: ctx.metrics,
      detached: () => {
        this.detachedStreams += 1;
      },
      closed: (session, reason) => {
        this.sessions.delete(session);
        if (session.isDetached) this.detachedStreams -= 1;
        ctx.metrics.disconnect(reason);
        if (reason === 'slow-client') this.slowClientDisconnects += 1;
      },
    };
  }

  /** `GET /sse`: the user's event stream (see `sse-session.ts`). `url`: the request's, parsed. */
  async handleSse(req: Req, res: ServerResponse, parsed?: URL): Promise<void> {
    let url: URL | null = parsed ?? null;
    let headers: AnswerHeaders = {};
    try {
      url ??= requestUrl(req.url ?? '/');
      if (this.closing !== undefined) throw new SeennError('SHUTTING_DOWN', 'the bridge is shutting down');
      const principal = await this.authenticator.authenticate(req, url.searchParams, true);
      // Every connect (HEAD too) spends the user's connect budget: each fresh one reads its jobs.
      if (this.connectLimiter !== null) headers = spendBudget(this.connectLimiter, principal.userId);
      checkUserParam(principal, url.searchParams);
      const filterJobId = await this.streamFilter(principal, url);
      const output = parseOutputRequest(url.searchParams, filterJobId);
      if (this.hub.count(principal.userId) >= this.options.maxStreamsPerUser) {
        throw new SeennError('TOO_MANY_STREAMS', `at most ${this.options.maxStreamsPerUser} streams per user`, {
          details: { limit: this.options.maxStreamsPerUser },
        });
      }
      // The client may have gone while we authenticated: a closed response never emits `close` again.
      if (res.destroyed || res.socket === null || res.socket.destroyed) return;
      if (req.method === 'HEAD') {
        // Express routes HEAD to GET handlers: answer the stream's headers, open no stream.
        res.writeHead(200, { 'Content-Type': 'text/event-stream', ...SSE_HEADERS });
        res.end();
        return;
      }
      const header = req.headers['last-event-id'];
      const cursor =
        (typeof header === 'string' && header !== '' ? header : null) ?? url.searchParams.get('lastEventId');
      const connection = new NodeSseConnection(res, this.options.detachStreams);
      const session = new SseSession(connection, { principal, filterJobId, cursor, output }, this.services);
      this.sessions.add(session);
      this.startTicker();
      await session.start();
    } catch (error) {
      const where = url === null ? '(malformed)' : loggableUrl(url.pathname, url.searchParams);
      writeAnswer(res, this.errorAnswer(where, error, headers));
    }
  }

  /** Whether an `authenticate` hook (the bridge's or `writeApi`'s) decides who a request is. */
  private readonly hasHooks: boolean;

  /**
   * Serves the bridge's paths on `server` ahead of its other `request` listeners (your Express app):
   * a request below `basePath` skips the app's routing and middleware (issue 15: Express was a sixth
   * of a connect's CPU); any other request goes to the listeners the server had, as before. Call it
   * once the server has its listener (`http.createServer(app)`), and mount the router in the app as
   * usual (it still serves whatever reaches it). The app's middleware does not run for the bridge's
   * paths: give CORS and other fixed headers in `headers`. Throws `CONFIG_INVALID` with an
   * `authenticate` hook (the bridge's or `writeApi`'s): it would get Node's request without what the
   * app's middleware adds. Returns a function that puts the server's listeners back.
   *
   * @example
   * ```ts
   * const router = seenn.bridge();
   * app.use('/v1', router);
   * const server = http.createServer(app);
   * router.bridge.attach(server, { basePath: '/v1' });
   * ```
   */
  attach(server: Server, options: { basePath: string; headers?: Readonly<Record<string, string>> }): () => void {
    if (this.hasHooks)
      throw new SeennError(
        'CONFIG_INVALID',
        'bridge.attach() serves requests before the app: it cannot be used with an `authenticate` hook',
      );
    const basePath = options.basePath.replace(/\/+$/, '');
    if (!/^(\/[^/?#]+)*$/.test(basePath))
      throw new SeennError('CONFIG_INVALID', 'attach(): `basePath` must be a path such as `/v1`', {
        details: { basePath: options.basePath },
      });
    const headers = Object.entries(options.headers ?? {});
    const others = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      const target = req.url ?? '/';
      const rest = target.startsWith(basePath) ? target.slice(basePath.length) : null;
      if (rest === null || !(rest === '' || rest.startsWith('/') || rest.startsWith('?'))) {
        for (const other of others) other.call(server, req, res);
        return;
      }
      for (const [name, value] of headers) res.setHeader(name, value);
      // Without hooks, the bridge reads only Node's own request fields (method, url, headers, body):
      // a plain `IncomingMessage` serves for the framework's request type.
      void this.serve(req as Req, res, basePath, rest.startsWith('/') ? rest : `/${rest}`);
    };
    server.removeAllListeners('request');
    server.on('request', listener);
    return () => {
      server.removeListener('request', listener);
      for (const other of others) server.on('request', other);
    };
  }

  /** The REST routes, in match order (`GET /sse` is served apart, by {@link serve}). */
  readonly routes: readonly Route<BridgeHandler<Req>>[];

  /**
   * Answers one Node request below the bridge's mount: `GET /sse` opens a stream, any other path is
   * looked up in {@link routes} (404 `NOT_FOUND` / 405 `METHOD_NOT_ALLOWED` when none answers).
   * Never rejects.
   *
   * @param path - the request target below the mount (Express's `req.url` in a mounted router); the
   *   request's own `req.url` when not given
   * @param basePath - where the bridge is mounted (`/v1`), for `RouteRequest.path` and logs
   */
  async serve(req: Req, res: ServerResponse, basePath = '', path: string = req.url ?? '/'): Promise<void> {
    let url: URL | null = null;
    try {
      url = requestUrl(path);
      const method = req.method ?? 'GET';
      if (isSsePath(url.pathname)) {
        if (method === 'GET' || method === 'HEAD') return await this.handleSse(req, res, url);
        writeAnswer(res, unmatchedAnswer({ kind: 'method-not-allowed', allowed: ['GET'] }, url.pathname));
        return;
      }
      const request: RouteRequest<Req> = {
        raw: req,
        method,
        path: `${basePath}${url.pathname}`,
        basePath,
        params: {},
        query: url.searchParams,
        headers: req.headers,
      };
      const match = matchRoute(this.routes, method, url.pathname);
      const answer =
        match.kind === 'found'
          ? await match.route.handler({ ...request, params: match.params })
          : this.refusal(loggableUrl(request.path, url.searchParams), unmatchedAnswer(match, request.path));
      writeAnswer(res, answer, method === 'HEAD');
    } catch (error) {
      writeAnswer(
        res,
        this.errorAnswer(url === null ? '(malformed)' : loggableUrl(url.pathname, url.searchParams), error, {}),
      );
    }
  }

  /** What every session shares (one object for all of them). */
  private readonly services: SessionServices;
  /** The one timer of all streams: heartbeats, idle and expiry. */
  private ticker: NodeJS.Timeout | null = null;

  /** Counters for diagnostics. */
  get stats(): BridgeStats {
    return {
      streams: this.sessions.size,
      detachedStreams: this.detachedStreams,
      hub: this.hub.stats,
      slowClientDisconnects: this.slowClientDisconnects,
      watchedJobs: this.positions?.watchedJobs ?? 0,
    };
  }

  /** Ends every stream, stops the timers and the position watcher, and closes the hub's connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const session of [...this.sessions]) session.close('shutdown');
      this.sessions.clear();
      if (this.ticker !== null) clearInterval(this.ticker);
      this.ticker = null;
      this.limiter?.close();
      this.connectLimiter?.close();
      await Promise.all([this.positions?.close(), this.hub.close(), this.streamReads?.close()]);
    })();
    return this.closing;
  }

  /**
   * Starts the ticker on the first stream: every `tickMs` (the heartbeat interval, the idle timeout
   * or 1 s, whichever is shortest) it visits each stream once; a tick's heartbeat frame is built once
   * and written to every stream whose beat is due.
   */
  private startTicker(): void {
    if (this.ticker !== null || this.closing !== undefined) return;
    const { heartbeatMs, idleTimeoutMs } = this.options;
    const tickMs = Math.max(10, Math.min(heartbeatMs, idleTimeoutMs ?? MAX_TICK_MS, MAX_TICK_MS));
    this.ticker = setInterval(() => {
      const nowMs = Date.now();
      let beat: Frame | null = null;
      const heartbeat = (): Frame => (beat ??= formatValue('heartbeat', { timestamp: new Date(nowMs).toISOString() }));
      for (const session of this.sessions) {
        try {
          session.tick(nowMs, nowMs + tickMs / 2, heartbeat);
        } catch (error) {
          this.logger.error({ err: error, userId: session.userId }, 'bridge: a stream failed its tick');
        }
      }
    }, tickMs);
    this.ticker.unref();
  }

  /**
   * The route table: the end-user reads (with `writeApi`, a request with backend credentials is
   * answered by the write API's backend read instead), the owner's cancel, and the write routes.
   */
  private buildRoutes(options: BridgeOptions<Req>): Route<BridgeHandler<Req>>[] {
    const { jobs } = this;
    const writeApi =
      options.writeApi === undefined
        ? null
        : new WriteApi<Req>(this.ctx, jobs, options.writeApi, this.authenticator, this.options.rateLimit);
    const read =
      (
        kind: 'job' | 'children' | 'list' | null,
        body: (principal: Principal, req: RouteRequest<Req>) => Promise<unknown>,
      ) =>
      async (req: RouteRequest<Req>): Promise<RouteAnswer> =>
        (writeApi !== null && kind !== null ? await writeApi.backendRead(req, kind) : null) ?? this.rest(req, body);
    const id = (req: RouteRequest<Req>): string => req.params['id'] ?? '';
    const cancel: BridgeHandler<Req> =
      writeApi !== null
        ? (req) => writeApi.cancel(req)
        : (() => {
            // Cancel is ours: a job's owner may cancel it on every bridge (backend keys need `writeApi`).
            const route = {
              ctx: this.ctx,
              jobs,
              users: this.authenticator,
              backendOf: () => Promise.resolve(null),
              backendLimiter: null,
              userLimiter: this.options.rateLimit === null ? null : new RateLimiter(this.options.rateLimit),
              maxBodyBytes: WRITE_API_DEFAULTS.maxBodyBytes,
            };
            return (req: RouteRequest<Req>) => answerCancel(route, req);
          })();
    const routes: Route<BridgeHandler<Req>>[] = [
      { method: 'GET', path: '/jobs', handler: read('list', (principal, req) => listJobs(jobs, principal, req.query)) },
      { method: 'GET', path: '/jobs/:id', handler: read('job', (principal, req) => getJob(jobs, principal, id(req))) },
      {
        method: 'GET',
        path: '/jobs/:id/children',
        handler: read('children', (principal, req) => getChildren(jobs, principal, id(req))),
      },
      {
        method: 'GET',
        path: '/jobs/:id/output',
        handler: read(null, (principal, req) => getOutput(jobs, this.ctx.output, principal, id(req), req.query)),
      },
      { method: 'POST', path: '/jobs/:id/cancel', handler: cancel },
    ];
    if (writeApi !== null)
      routes.push(
        { method: 'POST', path: '/jobs', handler: (req) => writeApi.create(req) },
        { method: 'POST', path: '/jobs/:id/progress', handler: (req) => writeApi.progress(req) },
        { method: 'POST', path: '/jobs/:id/complete', handler: (req) => writeApi.complete(req) },
        { method: 'POST', path: '/jobs/:id/fail', handler: (req) => writeApi.fail(req) },
        { method: 'GET', path: '/eta', handler: (req) => writeApi.etaList(req) },
        { method: 'GET', path: '/eta/:key', handler: (req) => writeApi.etaGet(req) },
        { method: 'DELETE', path: '/eta/:key', handler: (req) => writeApi.etaDelete(req) },
      );
    return routes;
  }

  /** Authenticates, rate-limits and answers one end-user REST request with `body(principal, req)` as JSON. */
  private async rest(
    req: RouteRequest<Req>,
    body: (principal: Principal, req: RouteRequest<Req>) => Promise<unknown>,
  ): Promise<RouteAnswer> {
    let headers: AnswerHeaders = {};
    try {
      const principal = await this.authenticator.authenticate(req.raw, req.query, false);
      if (this.limiter !== null) headers = spendBudget(this.limiter, principal.userId);
      checkUserParam(principal, req.query);
      return jsonAnswer(await body(principal, req), 200, headers);
    } catch (error) {
      return this.errorAnswer(loggableUrl(req.path, req.query), error, headers);
    }
  }

  /** The SSE `jobId` filter: a job the principal may see, or 404. */
  private async streamFilter(principal: Principal, url: URL): Promise<string | null> {
    const jobId = url.searchParams.get('jobId');
    if (jobId === null) return null;
    if (!isJobIdShape(jobId)) throw jobNotFound(jobId);
    await getJob(this.jobs, principal, jobId);
    return jobId;
  }

  /** A request no route answers: counted and logged like any refusal. */
  private refusal(where: string, answer: RouteAnswer): RouteAnswer {
    this.ctx.metrics.authFailure(answer.status);
    this.logger.debug({ status: answer.status, url: where }, 'bridge: request refused');
    return answer;
  }

  /** The error envelope of a failed request (with the rate-limit headers spent); logged, and counted in the metrics. */
  private errorAnswer(where: string, error: unknown, headers: AnswerHeaders): RouteAnswer {
    const coded = toSeennError(error);
    this.ctx.metrics.authFailure(coded.status);
    if (error instanceof RateLimitExceeded) headers = { ...headers, ...error.headers };
    if (coded.status >= 500) this.logger.error({ err: error, url: where }, 'bridge: request failed');
    else this.logger.debug({ code: coded.code, url: where }, 'bridge: request refused');
    return bridgeErrorAnswer(coded, headers);
  }
}

/** Whether a path (below the mount) is the event stream's (a trailing slash is ignored, as Express does). */
function isSsePath(pathname: string): boolean {
  return pathname === SSE_PATH || pathname === `${SSE_PATH}/`;
}
