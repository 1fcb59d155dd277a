/**
 * `Seenn`: the one object an app creates. It owns the shared context and hands out the producer
 * (`jobs`), the worker wrapper (`processor`), publishers, the bridge and the admin route.
 */
import type { Registry } from 'prom-client';
import { createAdminRouter, readPublisherStatus, type AdminRouter, type ExpressAdminOptions } from './admin/index.js';
import { TokenService } from './auth/index.js';
import { createBridgeRouter, type BridgeRouter, type ExpressBridgeOptions } from './bridge/index.js';
import { SeennContext } from './context.js';
import { cancelListenerOf } from './handles/index.js';
import { JobsApi } from './jobs-api.js';
import { silentLogger } from './logger.js';
import {
  BridgeRegistration,
  createHealthHandler,
  Health,
  type HealthHandlerOptions,
  type PublisherRun,
} from './health/index.js';
import { createMetricsHandler, recordPublisher, type NodeHandler } from './metrics/index.js';
import { parseOrThrow, resolveSeennOptions, type SeennOptions } from './options.js';
import { z } from 'zod';
import { Publisher, type PublisherOptions } from './publisher/index.js';
import { BridgeRegistryStore } from './store/bridge-registry.js';
import { openConnection } from './store/connection.js';
import { pingRedis } from './store/connection-set.js';
import {
  createProcessor,
  type ProcessorOptions,
  type SeennProcessor,
  type SeennProcessorFunction,
} from './worker/index.js';

const HealthHandlerOptionsSchema = z.object({ probe: z.enum(['liveness', 'readiness']).optional() }).strict();

/**
 * Live, per-user job state for BullMQ.
 *
 * @example
 * ```ts
 * const seenn = new Seenn({ connection: new Redis({ maxRetriesPerRequest: null }) });
 * const job = await seenn.jobs.start({ queue: 'video', userId: 'u1', jobType: 'render', title: 'My video' });
 * ```
 */
export class Seenn {
  /** Start jobs and read them back. */
  readonly jobs: JobsApi;
  /** Issue (and verify) end-user tokens for the bridge; needs `tokenSecret`. */
  readonly tokens: TokenService;
  /** @internal The shared context (connections, store, keys, logger). */
  readonly context: SeennContext;
  private readonly health: Health;
  private closing: Promise<void> | undefined;

  /** @param options - see {@link SeennOptions}; validated here (throws `CONFIG_INVALID`). */
  constructor(options: SeennOptions) {
    const resolved = resolveSeennOptions(options);
    const { redis, owned } = openConnection(options.connection);
    this.context = new SeennContext(redis, owned, resolved, options.logger ?? silentLogger);
    this.jobs = new JobsApi(this.context);
    this.tokens = new TokenService(resolved.tokenSecret, resolved.appId);
    this.health = new Health(() => pingRedis(this.context.redis));
  }

  /**
   * An Express router serving the Seenn SSE and REST routes (`GET /sse`, `/jobs`, `/jobs/:id`,
   * `/jobs/:id/children`) to end users; mount it at `/v1`. Options are validated here
   * (`CONFIG_INVALID`); `seenn.close()` ends its streams and closes its Redis connection.
   *
   * @example
   * ```ts
   * app.use('/v1', seenn.bridge({ auth: { secret } }));
   * ```
   */
  bridge(options: ExpressBridgeOptions = {}): BridgeRouter {
    const router = createBridgeRouter(this.context, this.jobs, options);
    const ctx = this.context;
    const streams = (): number => router.bridge.stats.streams;
    const registration = new BridgeRegistration(
      new BridgeRegistryStore(ctx.redis, ctx.keys),
      streams,
      ctx.logger.child({ module: 'bridge' }),
    );
    registration.start();
    const unwatch = [ctx.metrics.watchStreams(streams), this.health.addBridge(router.bridge, registration)];
    ctx.onClose(async () => {
      for (const stop of unwatch) stop();
      await router.bridge.close();
      await registration.stop();
    });
    return router;
  }

  /**
   * Wraps a BullMQ processor: its job gains `setProgress(progress, { message, stage, queue,
   * estimatedCompletionAt, metadata })`, `token` and the `AbortSignal` are passed through, the return
   * value becomes the job's `result` and a thrown error its `error: { code, message }`. Options are
   * validated here (`CONFIG_INVALID`).
   *
   * @example
   * ```ts
   * new Worker('video', seenn.processor(async (job, token, signal) => {
   *   await job.setProgress(33, { message: 'Rendering', stage: { name: 'render', current: 1, total: 3 } });
   *   return { url };
   * }), { connection });
   * ```
   */
  // `any` defaults, like BullMQ's Processor: see SeennWorkerJob for why.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  processor<Data = any, Result = any, Name extends string = string>(
    fn: SeennProcessorFunction<Data, Result, Name>,
    options?: ProcessorOptions,
  ): SeennProcessor<Data, Result, Name> {
    const ctx = this.context;
    return createProcessor(fn, options, ctx.logger, cancelListenerOf(ctx), {
      store: ctx.output,
      options: ctx.options.output,
      ownerOf: (jobId) => ctx.store.ownerOf(jobId),
      finishedJobSeconds: ctx.options.retention.finishedJobSeconds,
    });
  }

  /**
   * A publisher that turns the BullMQ events of `options.queues` into Seenn state. Call `start()` on
   * it; `seenn.close()` stops it.
   */
  publisher(options: PublisherOptions): Publisher {
    const publisher = new ReportingPublisher(this.context, options);
    const ctx = this.context;
    const unwatch = publisher.options.queues.map((queue) =>
      ctx.metrics.watchPublisherLag(queue, async () => {
        const { lag } = await readPublisherStatus(ctx, queue);
        return { seconds: lag.ms / 1000, entries: lag.entries };
      }),
    );
    unwatch.push(
      recordPublisher(ctx.metrics, publisher),
      this.health.addPublisher(publisher, () => publisher.run),
    );
    this.context.onClose(async () => {
      for (const stop of unwatch) stop();
      await publisher.close();
    });
    return publisher;
  }

  /**
   * An Express router for ops: a Seenn JSON view (`GET /api/queues` with each queue's BullMQ counts
   * and publisher lag, `/api/queues/:name`, `/api/jobs/:id`, `/api/users/:userId/jobs`) and bull-board
   * under `boardPath`, all behind `auth`. Options are validated here (`CONFIG_INVALID`);
   * `seenn.close()` shuts it.
   *
   * @example
   * ```ts
   * app.use('/admin', seenn.admin({ auth: { token: adminToken }, queues: ['video'] }));
   * ```
   */
  admin(options: ExpressAdminOptions): AdminRouter {
    const router = createAdminRouter(this.context, this.jobs, options);
    this.context.onClose(() => router.admin.close());
    return router;
  }

  /**
   * A plain Node `(req, res)` handler answering the seenn_* metrics in Prometheus text (prom-client's
   * exposition of the registry in use, with anything else the app registered there). With
   * `metrics: false` it answers 404 `NOT_FOUND`. The admin route serves the same at `GET /metrics`.
   *
   * @example
   * ```ts
   * app.get('/metrics', seenn.metricsHandler());
   * ```
   */
  metricsHandler(): NodeHandler {
    return createMetricsHandler(this.context.options.metrics.registry, this.context.logger);
  }

  /**
   * A plain Node `(req, res)` handler for health probes, answering JSON (`{ status, probe, checks }`,
   * each check naming its part and what failed) with 200, or 503 when not ready:
   * - `readiness` (the default): Redis answers a PING; each bridge of this instance has its live
   *   subscription up (or has no stream yet); each publisher runs, per queue `reading` (it holds some
   *   of its partitions) or `standby` (others hold them all) — one not started yet or closed is `stopped`, and not ready;
   * - `liveness`: the process answers (no I/O).
   *
   * @example
   * ```ts
   * app.get('/livez', seenn.healthHandler({ probe: 'liveness' }));
   * app.get('/readyz', seenn.healthHandler());
   * ```
   */
  healthHandler(options: HealthHandlerOptions = {}): NodeHandler {
    const { probe } = parseOrThrow(HealthHandlerOptionsSchema, options, 'healthHandler options');
    return createHealthHandler(this.health, probe ?? 'readiness');
  }

  /** The prom-client registry the seenn_* metrics are in (`metrics.registry`, else the package's own); `null` with `metrics: false`. */
  get metricsRegistry(): Registry | null {
    return this.context.options.metrics.registry;
  }

  /** Closes what this instance opened (queues, publishers, connections), never a connection it was given. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.context.close();
    return this.closing;
  }
}

/**
 * A {@link Publisher} that knows whether it was started or closed: what readiness tells apart from a
 * standby (`stopped` before `start()` and after `close()`).
 */
class ReportingPublisher extends Publisher {
  /** Not started yet, started, or closed. */
  run: PublisherRun = 'new';

  override async start(): Promise<void> {
    await super.start();
    this.run = 'started';
  }

  override close(): Promise<void> {
    this.run = 'closed';
    return super.close();
  }
}
