/**
 * One queue's reading loop: hold the queue's lease, read its BullMQ events stream from the
 * checkpoint, apply each event (jobs in parallel, each job's events in order), move the checkpoint,
 * and re-sync when BullMQ trimmed events the loop had not read. The loop survives Redis restarts and
 * every error: it reports them and carries on.
 */
import { randomUUID } from 'node:crypto';
import type { RedisConnection } from '../store/connection.js';
import type { SeennContext } from '../context.js';
import type { Logger } from '../logger.js';
import type { SourceEvent } from '../model/source-event.js';
import { applyJobEvents } from './apply-event.js';
import { JobResolver } from './job-resolver.js';
import { advanceCheckpoint, readCheckpoint, releaseLease, takeLease } from './lease.js';
import type { ResolvedPublisherOptions } from './options.js';
import { parseQueueEvent, type QueueEvent } from './parse-event.js';
import { streamIdTime } from '../model/source-event.js';
import { resyncQueue, runLimited } from './resync.js';

/** What a reader tells its publisher. */
export interface QueueReaderHooks {
  /** A batch was applied and checkpointed. */
  onBatch(queueName: string, info: { events: number; lastId: string }): void;
  /** A gap was found and re-synced. */
  onResync(queueName: string, info: ResyncInfo): void;
  /** The lease was taken or lost. */
  onLease(queueName: string, held: boolean): void;
  /** Something failed; the loop goes on. */
  onError(error: unknown, queueName: string): void;
  /** A job's events kept failing to apply; they were set aside (see {@link QueueReader}) and reading went on. */
  onParked(queueName: string, info: ParkedJob): void;
}

/** What a re-sync reports: where the gap was, and the figures to size BullMQ's events stream by. */
export interface ResyncInfo {
  /** The checkpoint whose entry BullMQ had trimmed. */
  fromId: string;
  /** The stream's newest entry when the re-sync ran: reading resumes after it. */
  resumeId: string;
  /** The queue's `streams.events.maxLen` as BullMQ stores it (`opts.maxLenEvents` in its meta), or `null`. */
  maxLenEvents: number | null;
  /** How much time of events was trimmed unread: oldest entry left − checkpoint, in ms (0 when unknown). */
  trimmedSpanMs: number;
}

/** A job whose events of one read kept failing to apply and were set aside. */
export interface ParkedJob {
  /** The BullMQ job id. */
  bullId: string;
  /** The first and last events-stream ids of the events set aside. */
  fromId: string;
  toId: string;
  /** The last error's message. */
  error: string;
  /** Epoch ms. */
  atMs: number;
}

/**
 * Waits between the attempts to apply one job's events when they fail (then the job is parked).
 * Short: the whole read waits for them.
 */
export const JOB_RETRY_DELAYS_MS: readonly number[] = Object.freeze([50, 200, 800]);

/** The reading loop of one queue. */
export class QueueReader {
  private readonly owner = randomUUID();
  private readonly resolver: JobResolver;
  private readonly log: Logger;
  private running = false;
  private loop: Promise<void> | undefined;
  private blocking: RedisConnection | undefined;
  private holdsLease = false;
  private leaseTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** Whether the once-only sizing warning of a trimmed-gap re-sync was logged. */
  private warnedTrim = false;
  /** BullMQ ids of jobs parked lately (they get no retries when they fail again). */
  private readonly parked = new Set<string>();

  constructor(
    private readonly ctx: SeennContext,
    readonly queueName: string,
    private readonly options: ResolvedPublisherOptions,
    private readonly hooks: QueueReaderHooks,
  ) {
    this.log = ctx.logger.child({ component: 'publisher', queue: queueName });
    this.resolver = new JobResolver(ctx, queueName, options.describe, (error, bullId) => {
      this.log.warn({ err: error, bullId }, 'job could not be described; it stays invisible');
      hooks.onError(error, queueName);
    });
  }

  /** Starts the loop (idempotent). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.blocking = this.ctx.duplicate();
    this.loop = this.run();
  }

  /** Stops the loop, gives the lease up and closes the loop's connection. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    clearInterval(this.leaseTimer);
    // Interrupts a blocking XREAD at once.
    this.blocking?.disconnect();
    await this.loop;
    if (this.holdsLease) await releaseLease(this.ctx.redis, this.ctx.keys.lease(this.queueName), this.owner).catch(() => undefined);
    this.setLease(false);
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!this.holdsLease) {
          await this.acquire();
          continue;
        }
        await this.readOnce();
      } catch (error) {
        if (!this.running) break;
        this.log.error({ err: error }, 'publisher loop error; retrying');
        this.hooks.onError(error, this.queueName);
        await this.pause(this.options.errorBackoffMs);
      }
    }
  }

  private async acquire(): Promise<void> {
    const held = await takeLease(this.ctx.redis, this.ctx.keys.lease(this.queueName), this.owner, this.options.leaseMs);
    if (!held) {
      await this.pause(this.options.leaseRetryMs);
      return;
    }
    this.setLease(true);
    clearInterval(this.leaseTimer);
    this.leaseTimer = setInterval(() => void this.renew(), Math.max(10, Math.floor(this.options.leaseMs / 3)));
    this.leaseTimer.unref();
  }

  private async renew(): Promise<void> {
    try {
      const held = await takeLease(this.ctx.redis, this.ctx.keys.lease(this.queueName), this.owner, this.options.leaseMs);
      if (!held) {
        this.log.warn({}, 'lease lost to another publisher');
        clearInterval(this.leaseTimer);
        this.setLease(false);
      }
    } catch (error) {
      this.hooks.onError(error, this.queueName);
    }
  }

  private setLease(held: boolean): void {
    if (this.holdsLease === held) return;
    this.holdsLease = held;
    this.hooks.onLease(this.queueName, held);
  }

  /** One blocking read, then the batch applied and checkpointed. */
  private async readOnce(): Promise<void> {
    const { redis, keys } = this.ctx;
    const blocking = this.blocking;
    if (blocking === undefined) return;
    if (blocking.status === 'end') await blocking.connect();
    const checkpointKey = keys.checkpoint(this.queueName);
    const streamKey = keys.bullEvents(this.queueName);
    const checkpoint = (await readCheckpoint(redis, checkpointKey)) ?? '0-0';
    // The XRANGE runs right after the XREAD answers: if the checkpoint's own entry still exists then,
    // nothing after it can have been trimmed before we read it.
    const replies = await blocking
      .pipeline()
      .xread('COUNT', this.options.batchSize, 'BLOCK', this.options.blockMs, 'STREAMS', streamKey, checkpoint)
      .xrange(streamKey, checkpoint, checkpoint)
      .exec();
    if (!this.running || !this.holdsLease) return;
    const [[readError, read], [rangeError, range]] = replies as [[Error | null, unknown], [Error | null, unknown]];
    if (readError) throw readError;
    if (rangeError) throw rangeError;
    const entries = ((read as [string, [string, string[]][]][] | null)?.[0]?.[1] ?? []) as [string, string[]][];
    if (entries.length === 0) return;
    if (checkpoint !== '0-0' && (range as unknown[]).length === 0) {
      const [maxLen, oldest] = await Promise.all([redis.hget(`${keys.prefix}:${this.queueName}:meta`, 'opts.maxLenEvents'), redis.xrange(streamKey, '-', '+', 'COUNT', 1)]);
      const resumeId = await resyncQueue(this.ctx, this.queueName, this.resolver, checkpoint, this.options.concurrency);
      await advanceCheckpoint(redis, checkpointKey, resumeId);
      const oldestId = oldest[0]?.[0];
      const info: ResyncInfo = {
        fromId: checkpoint,
        resumeId,
        maxLenEvents: maxLen === null || !Number.isFinite(Number(maxLen)) ? null : Number(maxLen),
        trimmedSpanMs: oldestId === undefined ? 0 : Math.max(0, streamIdTime(oldestId) - streamIdTime(checkpoint)),
      };
      this.log.warn({ ...info }, 'events were trimmed before they were read; re-synced from BullMQ');
      if (!this.warnedTrim) {
        // Once per process and queue: the figure to size BullMQ's events stream by (README, "Sizing").
        this.warnedTrim = true;
        this.log.warn(
          { ...info, queue: this.queueName },
          `BullMQ trimmed ${this.queueName}'s events stream (streams.events.maxLen ${info.maxLenEvents ?? 'unknown'}) ${info.trimmedSpanMs} ms past what this publisher had read; ` +
            'raise streams.events.maxLen to at least events per second × the longest publisher outage in seconds (see the README, "Sizing the events stream")',
        );
      }
      this.hooks.onResync(this.queueName, info);
      return;
    }
    await this.applyBatch(entries);
    const lastId = (entries[entries.length - 1] as [string, string[]])[0];
    await advanceCheckpoint(redis, checkpointKey, lastId);
    this.hooks.onBatch(this.queueName, { events: entries.length, lastId });
  }

  /** Applies a batch: jobs in parallel, each job's events in stream order. */
  private async applyBatch(entries: readonly [string, string[]][]): Promise<void> {
    const byJob = new Map<string, QueueEvent[]>();
    for (const [id, fields] of entries) {
      const parsed = parseQueueEvent(id, fields);
      if (parsed === null) continue;
      const list = byJob.get(parsed.bullId);
      if (list === undefined) byJob.set(parsed.bullId, [parsed]);
      else list.push(parsed);
    }
    // BullMQ's failed-attempt count of every `delayed` event, read at once after the XREAD (all in one
    // write): the later it is read, the likelier the job has run again and the count moved on.
    const delayed: Promise<void>[] = [];
    for (const [bullId, events] of byJob) {
      for (const [i, entry] of events.entries()) {
        const { event } = entry;
        if (event.kind === 'delayed') delayed.push(this.withAttemptsMade(bullId, event).then((enriched) => void (events[i] = { ...entry, event: enriched })));
      }
    }
    await Promise.all(delayed);
    const tasks = [...byJob.entries()].map(([bullId, events]) => () => this.applyIsolated(bullId, events));
    await runLimited(tasks, this.options.concurrency);
  }

  /**
   * Applies one job's events of a read, isolated from the other jobs: on failure it retries with
   * backoff ({@link JOB_RETRY_DELAYS_MS}); when it still fails while Redis answers, the job is parked —
   * logged, recorded in the queue's parked-jobs hash, reported — and the read goes on without it, so
   * one job can never stop its queue. When Redis does not answer, the error goes up and the whole read
   * is retried from the checkpoint (nothing is parked for an outage).
   */
  private async applyIsolated(bullId: string, events: readonly QueueEvent[]): Promise<void> {
    // A job parked before gets one attempt: it must not hold every read up for the whole backoff.
    const delays = this.parked.has(bullId) ? [] : JOB_RETRY_DELAYS_MS;
    for (let attempt = 0; ; attempt += 1) {
      try {
        await applyJobEvents(this.ctx, this.queueName, this.resolver, bullId, events);
        this.parked.delete(bullId);
        return;
      } catch (error) {
        if (!this.running) throw error;
        const wait = delays[attempt];
        if (wait !== undefined) {
          this.log.warn({ err: error, bullId, attempt: attempt + 1 }, "a job's events could not be applied; retrying");
          await this.pause(wait);
          continue;
        }
        // An outage is not the job's fault: the loop retries the whole read from the checkpoint.
        await this.ctx.redis.ping().catch(() => {
          throw error;
        });
        await this.park(bullId, events, error);
        return;
      }
    }
  }

  /** Sets a job's events aside: logged, recorded in Redis (`parkedJobs` hash of the queue) and reported. */
  private async park(bullId: string, events: readonly QueueEvent[], error: unknown): Promise<void> {
    const info: ParkedJob = {
      bullId,
      fromId: (events[0] as QueueEvent).id,
      toId: (events[events.length - 1] as QueueEvent).id,
      error: error instanceof Error ? error.message : String(error),
      atMs: Date.now(),
    };
    await this.ctx.redis.hset(this.ctx.keys.parkedJobs(this.queueName), bullId, JSON.stringify(info));
    if (this.parked.size >= 10_000) this.parked.clear();
    this.parked.add(bullId);
    this.log.error({ err: error, ...info }, "a job's events kept failing to apply; the job is parked and the queue goes on");
    this.hooks.onParked(this.queueName, info);
  }

  /** Adds BullMQ's failed-attempt count to a `delayed` event (a retry backoff or a step job's delay?). */
  private async withAttemptsMade(bullId: string, event: SourceEvent & { kind: 'delayed' }): Promise<SourceEvent> {
    const attemptsMade = await this.ctx.redis.hget(this.ctx.keys.bullJob(this.queueName, bullId), 'atm');
    return attemptsMade === null ? event : { ...event, attemptsMade: Number(attemptsMade) };
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
