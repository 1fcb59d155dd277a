/**
 * One queue's reading loop in one publisher process: hold the leases of a fair share of the queue's
 * partitions, read its BullMQ events stream from the oldest of their checkpoints, apply the events of
 * those partitions' jobs (jobs in parallel, each job's events in order), move their checkpoints, and
 * re-sync when BullMQ trimmed events the loop had not read. The loop survives Redis restarts and
 * every error: it reports them and carries on.
 */
import { randomUUID } from 'node:crypto';
import { disconnectNow, type RedisConnection } from '../store/connection.js';
import { settlesBy } from '../store/connection-set.js';
import type { SeennContext } from '../context.js';
import type { Logger } from '../logger.js';
import type { SourceEvent } from '../model/source-event.js';
import { applyJobEvents } from './apply-event.js';
import { JobResolver } from './job-resolver.js';
import type { SnapshotCache } from './snapshot-cache.js';
import { QueueEffects } from './queue-effects.js';
import {
  advanceCheckpoints,
  partitionCount,
  partitionOf,
  readCheckpoints,
  syncLeases,
  type LeaseMode,
} from '../store/partitions.js';
import type { ResolvedPublisherOptions } from './options.js';
import { entryJobId, parseQueueEvent, type QueueEvent } from './parse-event.js';
import { compareStreamIds, streamIdTime } from '../model/wire.js';
import { resyncQueue } from './resync.js';
import { runLimited } from './run-limited.js';
import { warmCaches } from './warm-caches.js';
import {
  bullAttemptFacts,
  eventsStreamFacts,
  readEventsAfter,
  recordParkedJob,
  redisAnswers,
  type EventsStreamEntry,
} from '../store/queue-io.js';

/** What a reader tells its publisher. */
export interface QueueReaderHooks {
  /** A batch was applied and checkpointed: `events` of this process's partitions, `byEvent` by BullMQ event name. */
  onBatch(queueName: string, info: { events: number; byEvent: Record<string, number>; lastId: string }): void;
  /** A gap was found and re-synced. */
  onResync(queueName: string, info: ResyncInfo): void;
  /** The set of partitions this process holds changed (empty: it holds none and stands by). */
  onLease(queueName: string, partitions: readonly number[]): void;
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
  /** How many jobs were rebuilt from BullMQ's lists and hashes. */
  jobs: number;
  /** How long the re-sync took, in ms (reading stopped meanwhile). */
  durationMs: number;
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

/** How many BullMQ ids of one read are resolved at once before the read is applied. */
const PREFETCH_CONCURRENCY = 64;

/** Connection states in which Redis is away (commands wait offline until it is back). */
const REDIS_AWAY: ReadonlySet<string> = new Set(['reconnecting', 'close', 'end']);

/** How soon a process holding no partition asks again when others are about to hand its share over. */
export const PARTITION_CLAIM_RETRY_MS = 50;

/** The reading loop of one queue in one publisher process. */
export class QueueReader {
  private readonly owner = randomUUID();
  private readonly resolver: JobResolver;
  private readonly log: Logger;
  private running = false;
  /** Counts stops: a loop runs while the count is the one it started with. */
  private generation = 0;
  private loop: Promise<void> | undefined;
  private blocking: RedisConnection | undefined;
  /** How many partitions the queue has (read from Redis when the loop starts). */
  private partitions: number | undefined;
  /** The partitions this process holds, ascending. */
  private held: readonly number[] = [];
  /** Whether this process holds fewer partitions than its share while it could get more soon. */
  private owed = false;
  private leaseTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** Whether the once-only sizing warning of a trimmed-gap re-sync was logged. */
  private warnedTrim = false;
  /** BullMQ ids of jobs parked lately (they get no retries when they fail again). */
  private readonly parked = new Set<string>();
  /**
   * The checkpoints as this process left them after its last read of the partitions `held` (the
   * script moves only the holder's, forward only): the next read of the same partitions starts from
   * them without reading them back. Dropped when the partitions held change, after a re-sync and
   * after an error.
   */
  private checkpointsAfterRead: { held: readonly number[]; ids: readonly (string | null)[] } | undefined;

  /**
   * @param ctx - the publisher's context
   * @param queueName - the queue read
   * @param options - the publisher's options
   * @param snapshots - the publisher's snapshot cache (shared by its readers)
   * @param hooks - what the reader reports
   */
  constructor(
    private readonly ctx: SeennContext,
    readonly queueName: string,
    private readonly options: ResolvedPublisherOptions,
    private readonly snapshots: SnapshotCache,
    private readonly hooks: QueueReaderHooks,
  ) {
    this.log = ctx.logger.child({ component: 'publisher', queue: queueName });
    this.resolver = new JobResolver(ctx, queueName, options.describe, (error, bullId) => {
      this.log.warn({ err: error, bullId }, 'job could not be described; it stays invisible');
      hooks.onError(error, queueName);
    });
  }

  /** Starts the loop (idempotent); after a {@link stop}, once the stopped loop has ended. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.blocking = this.ctx.duplicate();
    const generation = this.generation;
    const previous = this.loop;
    this.loop = previous === undefined ? this.run(generation) : previous.then(() => this.run(generation));
  }

  /**
   * Stops the loop, gives every partition up and closes the loop's connection. A read in flight gets
   * `closeGraceMs` to commit and checkpoint, and the leases as long to be given up; when Redis is away
   * or does not answer in time, it stops waiting: the read is not checkpointed (the next holder reads
   * it again; invariant 2 makes that a no-op) and the leases expire by themselves after `leaseMs`.
   * Resolves `false` when Redis did not answer within the grace (the loop may still have commands pending).
   */
  async stop(): Promise<boolean> {
    if (!this.running) return true;
    this.running = false;
    this.generation += 1;
    this.wake?.();
    clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
    // Interrupts a blocking XREAD at once.
    if (this.blocking !== undefined) disconnectNow(this.blocking);
    const loop = (this.loop ?? Promise.resolve()).catch(() => undefined);
    this.loop = loop;
    // Redis away: the loop's pending commands wait in ioredis's offline queue until it is back (or the
    // connection is dropped), so do not wait for them.
    let answered = !REDIS_AWAY.has(this.ctx.redis.status);
    if (answered) {
      const deadline = Date.now() + this.options.closeGraceMs;
      answered = await settlesBy(loop, deadline);
      if (answered && this.partitions !== undefined)
        answered = await settlesBy(
          this.sync('leave').catch(() => undefined),
          deadline,
        );
    }
    this.setHeld([]);
    return answered;
  }

  private async run(generation: number): Promise<void> {
    // A loop stopped and not ended yet (its commands were pending) ends here, even if started again.
    while (this.running && generation === this.generation) {
      try {
        this.partitions ??= await partitionCount(
          this.ctx.redis,
          this.ctx.keys,
          this.queueName,
          this.options.partitions,
        );
        await this.balance();
        if (this.held.length === 0) {
          // Owed a share that others are about to hand over (they do between two reads): ask again soon.
          await this.pause(
            this.owed ? Math.min(PARTITION_CLAIM_RETRY_MS, this.options.leaseRetryMs) : this.options.leaseRetryMs,
          );
          continue;
        }
        await this.readOnce(this.held, this.partitions);
      } catch (error) {
        this.checkpointsAfterRead = undefined;
        if (!this.running) break;
        this.log.error({ err: error }, 'publisher loop error; retrying');
        this.hooks.onError(error, this.queueName);
        await this.pause(this.options.errorBackoffMs);
      }
    }
  }

  /**
   * Before each read: moves toward this process's fair share of the partitions (giving some up only
   * here, after the last read was checkpointed; one script), and keeps the leases renewed in the background.
   */
  private async balance(): Promise<void> {
    await this.sync('balance');
    // Not after stop(): a balance that was in flight when the loop stopped must not start a timer
    // nobody clears (it would keep renewing leases of a stopped reader).
    if (this.leaseTimer === undefined && this.running) {
      this.leaseTimer = setInterval(() => void this.renew(), Math.max(10, Math.floor(this.options.leaseMs / 3)));
      this.leaseTimer.unref();
    }
  }

  private async renew(): Promise<void> {
    if (!this.running) return;
    try {
      const before = this.held;
      await this.sync('keep');
      const lost = before.filter((partition) => !this.held.includes(partition));
      if (lost.length > 0) this.log.warn({ partitions: lost }, 'partition leases lost to another publisher');
    } catch (error) {
      this.hooks.onError(error, this.queueName);
    }
  }

  /** Runs one lease step and records what this process holds afterwards. */
  private async sync(mode: LeaseMode): Promise<void> {
    const { held, owed } = await syncLeases(
      this.ctx.redis,
      this.ctx.keys,
      this.queueName,
      this.partitions as number,
      this.owner,
      this.options.leaseMs,
      mode,
    );
    if (mode !== 'leave' && !this.running) return;
    this.owed = owed;
    this.setHeld(held);
  }

  private setHeld(held: readonly number[]): void {
    if (held.length === this.held.length && held.every((partition, i) => partition === this.held[i])) return;
    // Another process may now move the jobs of a partition given up: what this one cached of them
    // could be out of date when the partition comes back (a read-only decision has no version check).
    if (this.held.some((partition) => !held.includes(partition))) this.snapshots.clear();
    this.checkpointsAfterRead = undefined;
    this.held = held;
    this.hooks.onLease(this.queueName, held);
  }

  /** One blocking read from the oldest checkpoint of the `held` partitions, then their events applied and checkpointed. */
  private async readOnce(held: readonly number[], partitions: number): Promise<void> {
    const { redis, keys } = this.ctx;
    const blocking = this.blocking;
    if (blocking === undefined) return;
    const known = this.checkpointsAfterRead;
    const checkpoints =
      known !== undefined && known.held === held
        ? known.ids
        : await readCheckpoints(redis, keys, this.queueName, partitions);
    const heldSet = new Set(held);
    const from = held
      .map((partition) => checkpoints[partition] ?? '0-0')
      .reduce((a, b) => (compareStreamIds(a, b) <= 0 ? a : b));
    const { entries, fromExists } = await readEventsAfter(
      blocking,
      keys,
      this.queueName,
      from,
      this.options.batchSize,
      this.options.blockMs,
    );
    if (!this.running) return;
    if (entries.length === 0) return;
    if (from !== '0-0' && !fromExists) {
      this.checkpointsAfterRead = undefined;
      await this.resync(from, held, (bullId) => heldSet.has(partitionOf(bullId, partitions)));
      return;
    }
    const mine: QueueEvent[] = [];
    for (const [id, fields] of entries) {
      // The job id first: entries of partitions held elsewhere (or already applied) are not parsed further.
      const bullId = entryJobId(fields);
      if (bullId === undefined) continue;
      const partition = partitionOf(bullId, partitions);
      if (!heldSet.has(partition) || compareStreamIds(id, checkpoints[partition] ?? '0-0') <= 0) continue;
      const parsed = parseQueueEvent(id, bullId, fields);
      if (parsed !== null) mine.push(parsed);
    }
    const effects = new QueueEffects(this.ctx, this.queueName);
    await this.applyBatch(mine, effects);
    await effects.flush();
    const lastId = (entries[entries.length - 1] as EventsStreamEntry)[0];
    await advanceCheckpoints(redis, keys, this.queueName, partitions, this.owner, lastId, held);
    const after = [...checkpoints];
    for (const partition of held)
      if (compareStreamIds(after[partition] ?? '0-0', lastId) < 0) after[partition] = lastId;
    this.checkpointsAfterRead = { held, ids: after };
    const byEvent: Record<string, number> = {};
    for (const { event } of mine) byEvent[event.kind] = (byEvent[event.kind] ?? 0) + 1;
    this.hooks.onBatch(this.queueName, { events: mine.length, byEvent, lastId });
  }

  /** Re-syncs the jobs of the `held` partitions (those `owns` accepts) after a trimmed gap at `from`. */
  private async resync(from: string, held: readonly number[], owns: (bullId: string) => boolean): Promise<void> {
    const { redis, keys } = this.ctx;
    const started = performance.now();
    const { maxLenEvents, oldestId } = await eventsStreamFacts(redis, keys, this.queueName);
    const { resumeId, jobs } = await resyncQueue(
      this.ctx,
      this.queueName,
      this.resolver,
      this.snapshots,
      from,
      this.options.concurrency,
      owns,
    );
    await advanceCheckpoints(redis, keys, this.queueName, this.partitions as number, this.owner, resumeId, held);
    const info: ResyncInfo = {
      fromId: from,
      resumeId,
      maxLenEvents,
      trimmedSpanMs: oldestId === undefined ? 0 : Math.max(0, streamIdTime(oldestId) - streamIdTime(from)),
      jobs,
      durationMs: Math.round(performance.now() - started),
    };
    this.log.warn({ ...info, partitions: held }, 'events were trimmed before they were read; re-synced from BullMQ');
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
  }

  /** Applies a batch: jobs in parallel, each job's events in stream order. */
  private async applyBatch(events: readonly QueueEvent[], effects: QueueEffects): Promise<void> {
    const byJob = new Map<string, QueueEvent[]>();
    for (const parsed of events) {
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
        if (event.kind === 'delayed')
          delayed.push(
            this.withAttemptsMade(bullId, event).then((enriched) => void (events[i] = { ...entry, event: enriched })),
          );
      }
    }
    await Promise.all(delayed);
    await warmCaches(this.resolver, this.snapshots, [...byJob.keys()], PREFETCH_CONCURRENCY);
    const tasks = [...byJob.entries()].map(
      ([bullId, events]) =>
        () =>
          this.applyIsolated(bullId, events, effects),
    );
    await runLimited(tasks, this.options.concurrency);
  }

  /**
   * Applies one job's events of a read, isolated from the other jobs: on failure it retries with
   * backoff ({@link JOB_RETRY_DELAYS_MS}); when it still fails while Redis answers, the job is parked —
   * logged, recorded in the queue's parked-jobs hash, reported — and the read goes on without it, so
   * one job can never stop its queue. When Redis does not answer, the error goes up and the whole read
   * is retried from the checkpoint (nothing is parked for an outage).
   */
  private async applyIsolated(bullId: string, events: readonly QueueEvent[], effects: QueueEffects): Promise<void> {
    // A job parked before gets one attempt: it must not hold every read up for the whole backoff.
    const delays = this.parked.has(bullId) ? [] : JOB_RETRY_DELAYS_MS;
    for (let attempt = 0; ; attempt += 1) {
      try {
        await applyJobEvents(this.ctx, this.queueName, this.resolver, this.snapshots, bullId, events, effects);
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
        await redisAnswers(this.ctx.redis).catch(() => {
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
    await recordParkedJob(this.ctx.redis, this.ctx.keys, this.queueName, bullId, JSON.stringify(info));
    if (this.parked.size >= 10_000) this.parked.clear();
    this.parked.add(bullId);
    this.log.error(
      { err: error, ...info },
      "a job's events kept failing to apply; the job is parked and the queue goes on",
    );
    this.hooks.onParked(this.queueName, info);
  }

  /** Adds BullMQ's attempt counts and whether it failed before to a `delayed` event (a retry backoff or a step job's delay?). */
  private async withAttemptsMade(bullId: string, event: SourceEvent & { kind: 'delayed' }): Promise<SourceEvent> {
    const facts = await bullAttemptFacts(this.ctx.redis, this.ctx.keys, this.queueName, bullId);
    if (facts === null) return event;
    const enriched: SourceEvent = { ...event, attemptsMade: facts.attemptsMade, failedBefore: facts.failedBefore };
    if (facts.attemptsStarted !== undefined) enriched.attemptsStarted = facts.attemptsStarted;
    return enriched;
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
