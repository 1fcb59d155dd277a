/**
 * The bridge, independent of any web framework: five handlers on Node's `IncomingMessage` /
 * `ServerResponse` (`GET /sse`, `GET /jobs/:id`, `GET /jobs`, `GET /jobs/:id/children`,
 * `GET /jobs/:id/output`), the live hub,
 * and the per-user limits. `express-adapter.ts` mounts them on an Express router; any framework that
 * exposes Node's request and response can call them the same way.
 *
 * A bridge process holds nothing but its open sockets: several processes behind one Redis serve the
 * same users interchangeably, and a client may reconnect to any of them with its cursor.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../auth/tokens.js';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isJobIdShape } from '../model/ids.js';
import { isCluster, type RedisConnection } from '../store/connection.js';
import { JobStore } from '../store/job-store.js';
import { JobsApi } from '../jobs-api.js';
import { PositionReader } from '../position/index.js';
import { Authenticator, checkUserParam, jobNotFound } from './authenticate.js';
import { loggableUrl, requestUrl, sendError, sendJson, toSeennError } from './http.js';
import { LiveHub, type HubStats } from './live-hub.js';
import { LivePositions } from './live-positions.js';
import { resolveBridgeOptions, type BridgeOptions, type ResolvedBridgeOptions } from './options.js';
import { RateLimitExceeded, RateLimiter, spendBudget } from './rate-limiter.js';
import { getChildren, getJob, listJobs, type RestJobReader } from './rest.js';
import { parseOutputRequest } from './live-output.js';
import { getOutput } from './output-rest.js';
import { SSE_HEADERS, SseSession, type SessionServices } from './sse-session.js';
import { decoratedJobReader } from './sync.js';
import { formatValue, type Frame } from './frames.js';

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
   * The streams' own Redis connection (single Redis only), auto-pipelined: the reads of every stream
   * that connects in the same tick (newest and oldest replay ids, the replay, the jobs to watch) leave
   * in one socket write and come back in one read, instead of a write and a read each. `null` on a
   * Cluster (auto-pipelining groups commands by node there, and the store's own connection serves).
   */
  private readonly streamReads: RedisConnection | null;

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
    this.streamReads = isCluster(ctx.redis)
      ? null
      : ctx.redis.duplicate({ enableAutoPipelining: true, lazyConnect: true });
    this.streamReads?.on('error', (error: Error) =>
      this.logger.warn({ err: error }, 'bridge: stream read connection error'),
    );
    const decorations = new PositionReader(ctx, ctx.options.positions);
    const streamStore =
      this.streamReads === null
        ? ctx.store
        : new JobStore(this.streamReads, ctx.keys, ctx.options.retention, this.logger, ctx.metrics);
    this.services = {
      store: streamStore,
      output: ctx.output,
      // `seenn.jobs` itself: its lists go through the stream connection too (same decoration); any
      // other reader (a test's, an app's) is used as given.
      jobs:
        jobs instanceof JobsApi && this.streamReads !== null
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

  /** `GET /sse`: the user's event stream (see `sse-session.ts`). */
  async handleSse(req: Req, res: ServerResponse): Promise<void> {
    let url: URL | null = null;
    let headers: Record<string, string | number> = {};
    try {
      url = requestUrl(req);
      if (this.closing !== undefined) throw new SeennError('SHUTTING_DOWN', 'the bridge is shutting down');
      const principal = await this.authenticator.authenticate(req, url, true);
      // Every connect (HEAD too) spends the user's connect budget: each fresh one reads its jobs.
      if (this.connectLimiter !== null) headers = spendBudget(this.connectLimiter, principal.userId);
      checkUserParam(principal, url);
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
      const session = new SseSession(res, { principal, filterJobId, cursor, output }, this.services);
      this.sessions.add(session);
      this.startTicker();
      await session.start();
    } catch (error) {
      this.answerError(res, url, error, headers);
    }
  }

  /** `GET /jobs/:id`: one job object. */
  handleGetJob(req: Req, res: ServerResponse, jobId: string): Promise<void> {
    return this.rest(req, res, (principal) => getJob(this.jobs, principal, jobId));
  }

  /** `GET /jobs?userId=&limit=&cursor=`: `{ jobs, nextCursor? }`, newest first. */
  handleListJobs(req: Req, res: ServerResponse): Promise<void> {
    return this.rest(req, res, (principal, url) => listJobs(this.jobs, principal, url.searchParams));
  }

  /** `GET /jobs/:id/children`: `{ parent, children }`. */
  handleChildren(req: Req, res: ServerResponse, jobId: string): Promise<void> {
    return this.rest(req, res, (principal) => getChildren(this.jobs, principal, jobId));
  }

  /** `GET /jobs/:id/output?stream=&after=&limit=`: `{ chunks, next?, done }` (see `output-rest.ts`). */
  handleOutput(req: Req, res: ServerResponse, jobId: string): Promise<void> {
    return this.rest(req, res, (principal, url) =>
      getOutput(this.jobs, this.ctx.output, principal, jobId, url.searchParams),
    );
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
      const reads = this.streamReads;
      const quit =
        reads === null
          ? undefined
          : reads.status === 'wait'
            ? reads.disconnect()
            : reads.quit().then(
                () => undefined,
                () => reads.disconnect(),
              );
      await Promise.all([this.positions?.close(), this.hub.close(), quit]);
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

  /** Authenticates, rate-limits and answers one REST request with `body(principal, url)` as JSON. */
  private async rest<T>(
    req: Req,
    res: ServerResponse,
    body: (principal: Principal, url: URL) => Promise<T>,
  ): Promise<void> {
    let url: URL | null = null;
    let headers: Record<string, string | number> = {};
    try {
      url = requestUrl(req);
      const principal = await this.authenticator.authenticate(req, url, false);
      if (this.limiter !== null) headers = spendBudget(this.limiter, principal.userId);
      checkUserParam(principal, url);
      sendJson(res, 200, await body(principal, url), headers);
    } catch (error) {
      this.answerError(res, url, error, headers);
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

  private answerError(
    res: ServerResponse,
    url: URL | null,
    error: unknown,
    headers: Record<string, string | number> = {},
  ): void {
    const coded = toSeennError(error);
    this.ctx.metrics.authFailure(coded.status);
    if (error instanceof RateLimitExceeded) headers = { ...headers, ...error.headers };
    const where = url === null ? '(malformed)' : loggableUrl(url);
    if (coded.status >= 500) this.logger.error({ err: error, url: where }, 'bridge: request failed');
    else this.logger.debug({ code: coded.code, url: where }, 'bridge: request refused');
    sendError(res, coded, headers);
  }
}
