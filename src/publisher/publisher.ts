/**
 * The publisher: turns BullMQ queue events into Seenn state, exactly once and in order per job. Run
 * one or more anywhere: the processes reading a queue share its jobs by partition (a hash of the
 * BullMQ job id), each partition read by one process at a time; they rebalance when one joins or dies.
 */
import { EventEmitter } from 'node:events';
import { SeennContext } from '../context.js';
import { ownCommandConnection } from '../store/connection.js';
import { resolvePublisherOptions, type PublisherOptions, type ResolvedPublisherOptions } from './options.js';
import { QueueReader, type ParkedJob, type ResyncInfo } from './queue-reader.js';
import { SnapshotCache } from './snapshot-cache.js';

/** The events a {@link Publisher} emits; payloads are single objects so they can grow. */
export interface PublisherEvents {
  /** A batch of events was applied and checkpointed: `events` in all, `byEvent` per BullMQ event name. */
  batch: [info: { queue: string; events: number; byEvent: Record<string, number>; lastId: string }];
  /** Events were trimmed before they were read; the queue's jobs were re-synced from BullMQ. */
  resync: [info: { queue: string } & ResyncInfo];
  /**
   * The partitions of a queue this publisher holds changed: `partitions` lists them; `held` is whether
   * it holds any (else it stands by until a partition is free).
   */
  lease: [info: { queue: string; held: boolean; partitions: readonly number[] }];
  /**
   * A job's events kept failing to apply (after retries with backoff) while Redis answered: they were
   * set aside, recorded in the queue's parked-jobs hash (`keys.parkedJobs(queue)`), and the queue went on.
   */
  parked: [info: { queue: string } & ParkedJob];
  /** Something failed; the publisher carries on. */
  error: [error: Error, info: { queue: string }];
}

/**
 * Reads each queue's BullMQ events stream and writes the Seenn store.
 *
 * @example
 * ```ts
 * const publisher = seenn.publisher({ queues: ['video'] });
 * publisher.on('error', (err) => logger.warn({ err }, 'publisher'));
 * await publisher.start();
 * ```
 */
export class Publisher extends EventEmitter<PublisherEvents> {
  /** The resolved options. */
  readonly options: ResolvedPublisherOptions;
  private readonly readers: QueueReader[];
  private stopping: Promise<void> | undefined;
  /** Whether the last close stopped waiting for Redis (it was away or did not answer within `closeGraceMs`). */
  private cutShort = false;

  /** @internal Use `seenn.publisher(options)`. */
  constructor(ctx: SeennContext, options: PublisherOptions) {
    super();
    this.options = resolvePublisherOptions(options);
    const io = publisherContext(ctx);
    if (io !== ctx) {
      // Closed with the Seenn instance, after this publisher has stopped using it.
      ctx.onClose(async () => {
        await this.close();
        // Drops, rather than waits on, a connection to a Redis that is away or hangs (no second grace
        // when the loops' grace already ran out): a read cut short is not checkpointed, and the next
        // holder of its partitions reads it again.
        await io.close(this.cutShort ? 0 : this.options.closeGraceMs);
      });
    }
    // One snapshot cache for all its queues: a child's commit in one queue drops its parent, cached by another's reader.
    const snapshots = new SnapshotCache(io.store);
    this.readers = this.options.queues.map(
      (queue) =>
        new QueueReader(io, queue, this.options, snapshots, {
          onBatch: (name, info) => this.emit('batch', { queue: name, ...info }),
          onResync: (name, info) => this.emit('resync', { queue: name, ...info }),
          onLease: (name, partitions) => this.emit('lease', { queue: name, held: partitions.length > 0, partitions }),
          onParked: (name, info) => this.emit('parked', { queue: name, ...info }),
          onError: (error, name) => {
            // An 'error' event without listeners would throw: background loops never crash the process.
            if (this.listenerCount('error') > 0)
              this.emit('error', error instanceof Error ? error : new Error(String(error)), { queue: name });
          },
        }),
    );
  }

  /** Starts reading every queue (idempotent). Resolves at once; reading goes on in the background. */
  async start(): Promise<void> {
    if (this.stopping !== undefined) await this.stopping;
    this.stopping = undefined;
    for (const reader of this.readers) reader.start();
  }

  /**
   * Stops reading and gives every lease up (idempotent). Returns within `closeGraceMs` (about) even
   * while Redis is down or hangs: a read in flight then is not checkpointed, and the leases expire.
   */
  close(): Promise<void> {
    this.stopping ??= Promise.all(this.readers.map((reader) => reader.stop())).then((answered) => {
      this.cutShort = answered.includes(false);
    });
    return this.stopping;
  }
}

/**
 * The context the publisher's readers work through: on a single Redis, one more command connection of
 * its own, so the app's commands on the Seenn connection never wait behind a read's commits (or the
 * commits behind them). Not auto-pipelined: ioredis sends the next auto-pipeline only once every reply
 * of the one in flight is in, which held one publisher to ~80 % of the catch-up rate it reaches with
 * each command written as it is issued (bench/README, issue 10, "Session 10"). On a Cluster, the
 * Seenn connection itself.
 */
function publisherContext(ctx: SeennContext): SeennContext {
  const connection = ownCommandConnection(ctx.redis, (error) =>
    ctx.logger.warn({ err: error }, 'publisher redis connection error'),
  );
  if (connection === null) return ctx;
  return new SeennContext(connection, true, ctx.options, ctx.logger);
}
