/**
 * The context every module of one {@link Seenn} instance shares: its Redis connection, key builder,
 * store, logger and resolved options, plus the connections it opened (closed by `seenn.close()`).
 */
import { Queue } from 'bullmq';
import type { Logger } from './logger.js';
import { metricsRecorder, type MetricsRecorder } from './metrics/index.js';
import type { ResolvedSeennOptions } from './options.js';
import { resolvePositionOptions, type ResolvedHistoryOptions } from './position/options.js';
import type { RedisConnection } from './store/connection.js';
import { ConnectionSet } from './store/connection-set.js';
import { JobStore } from './store/job-store.js';
import { OutputStore } from './store/output-store.js';
import { SeennKeys } from './store/keys.js';

/** What the modules of one Seenn instance share. */
export class SeennContext {
  readonly keys: SeennKeys;
  readonly store: JobStore;
  /** Job output streams (`appendOutput`), beside the snapshots. */
  readonly output: OutputStore;
  /** Where modules record metrics (a no-op with `metrics: false`). */
  readonly metrics: MetricsRecorder;
  /**
   * How the publisher writes completion history and scores ETA predictions: the history part
   * (`historySeconds`, `durationSamples`, `throughputSamples`, `etaCalibrationWindowSamples`) of
   * `positions`, defaults applied.
   */
  readonly history: ResolvedHistoryOptions;
  private readonly queues = new Map<string, Queue>();
  private readonly connections: ConnectionSet;
  private readonly closers = new Set<() => Promise<void>>();

  /**
   * @param redis - the command connection (shared with BullMQ objects we create)
   * @param ownsRedis - whether `redis` was opened by us (and so is closed by {@link close})
   * @param options - resolved options
   * @param logger - the logger
   */
  constructor(
    readonly redis: RedisConnection,
    ownsRedis: boolean,
    readonly options: ResolvedSeennOptions,
    readonly logger: Logger,
  ) {
    this.keys = new SeennKeys(options.prefix, options.appId);
    this.connections = new ConnectionSet(redis, ownsRedis, (error) =>
      logger.warn({ err: error }, 'redis connection error'),
    );
    this.output = new OutputStore(redis, this.keys, options.output, options.retention.activeJobSeconds);
    this.metrics = metricsRecorder(options.metrics);
    const { historySeconds, durationSamples, throughputSamples, etaCalibrationWindowSamples } = resolvePositionOptions(
      options.positions,
    );
    this.history = Object.freeze({ historySeconds, durationSamples, throughputSamples, etaCalibrationWindowSamples });
    this.store = new JobStore(redis, this.keys, options.retention, logger.child({ module: 'store' }), this.metrics);
  }

  /** A new connection like the main one (for blocking reads and subscribers; see `ConnectionSet`); closed by {@link close}. */
  duplicate(options: { shardedSubscribers?: boolean } = {}): RedisConnection {
    return this.connections.duplicate(options);
  }

  /**
   * The BullMQ `Queue` for `name`, created once. It never rewrites the queue's meta
   * (`skipMetasUpdate`), so it cannot undo the app's own `streams.events.maxLen`.
   */
  queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new Queue(name, { connection: this.redis, prefix: this.options.prefix, skipMetasUpdate: true });
      queue.on('error', (error: Error) => this.logger.warn({ err: error, queue: name }, 'queue error'));
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Registers something to close (a publisher, a bridge) when the Seenn instance closes. */
  onClose(closer: () => Promise<void>): void {
    this.closers.add(closer);
  }

  /**
   * Closes what was registered, then the queues and connections this context opened; never a
   * connection it was given. A connection whose Redis is away, or has not answered a QUIT within
   * `quitGraceMs`, is dropped (see `quitConnection`), so this returns during a Redis outage too.
   */
  async close(quitGraceMs?: number): Promise<void> {
    await Promise.all(
      [...this.closers].map((closer) =>
        closer().catch((error: unknown) => this.logger.warn({ err: error }, 'close failed')),
      ),
    );
    this.closers.clear();
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
    await this.connections.close(quitGraceMs);
  }
}
