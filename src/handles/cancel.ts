/**
 * Cancelling a job, from any process: `seenn.jobs.cancel(id, { reason })`, a handle's `cancel()`, and
 * `POST /jobs/:id/cancel`.
 *
 * - A Seenn-only job ends `cancelled` (the reason, when given, as its `message`).
 * - A BullMQ job ends `cancelled` in the store first (terminal states are final, so whatever BullMQ
 *   reports later changes nothing); then a waiting, prioritized or delayed job is removed from its
 *   queue, and an active one is aborted through BullMQ's own job cancellation: the request goes out on
 *   the app's cancel channel (and stays in a short-lived key, for an attempt that starts meanwhile), and
 *   the process running the job — its processor wrapped by `seenn.processor` — calls BullMQ's
 *   `worker.cancelJob(id, reason)`, which fires the processor's `AbortSignal`. The attempt then fails
 *   without a retry.
 * - A parent cancels its unfinished children (after itself, so a cancelled child cannot fail it).
 * - A job already finished answers `CONFLICT`; an unknown one `NOT_FOUND`.
 */
import type { CancelRequests } from '../store/cancel-requests.js';
import type { RedisConnection } from '../store/connection.js';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isTerminal, type SeennJob } from '../model/job.js';
import { applyCancel } from '../model/updates.js';
import { parseCancelUpdate } from './input.js';
import { alreadyFinished, notFound, writeJob } from './write.js';

/** How long a cancel request for an active job waits for its worker to see it. */
export const CANCEL_REQUEST_TTL_SECONDS = 3_600;

/**
 * Cancels job `jobId` (see the module comment) and returns it as stored now. Bad options throw a
 * `VALIDATION_ERROR`; nothing is written then.
 */
export async function cancelJob(ctx: SeennContext, jobId: string, options: unknown): Promise<SeennJob> {
  const update = parseCancelUpdate(options);
  const found = await ctx.store.readById(jobId);
  if (found === null) throw notFound(jobId);
  if (isTerminal(found.record.job.status)) throw alreadyFinished(found.record.job);
  const { queueName, bullId } = found.record.x;
  const bull = queueName !== undefined && bullId !== undefined ? { queueName, bullId } : null;
  if (bull !== null) {
    // BullMQ finished it already (the store has not caught up yet): too late to cancel.
    const state = await ctx.queue(bull.queueName).getJobState(bull.bullId);
    if (state === 'completed' || state === 'failed')
      throw new SeennError('CONFLICT', `job ${jobId} has already ${state}`, {
        details: { id: jobId, status: state, reason: 'terminal' },
      });
  }
  const { after } = await writeJob(ctx, jobId, ({ record }) => {
    if (isTerminal(record.job.status)) throw alreadyFinished(record.job);
    return applyCancel(record, update, Date.now());
  });
  if (bull !== null) {
    // Nothing is left for a re-sync to revisit.
    await ctx.store.dropUnfinished(bull.queueName, jobId);
    await stopBullJob(ctx, bull.queueName, bull.bullId, update.reason);
  }
  if (after.x.aggregate !== undefined) await cancelChildren(ctx, after.job, update.reason);
  // Its output lives as long as the ended job (every cancel path: handles, jobs.cancel, REST, a parent's).
  await ctx.output
    .expire(after.job.userId, jobId)
    .catch((error: unknown) =>
      ctx.logger.warn({ err: error, jobId }, 'could not give the output of a cancelled job its TTL'),
    );
  return after.job;
}

/** Removes a BullMQ job that has not started, or asks the process running it to abort it. */
async function stopBullJob(
  ctx: Pick<SeennContext, 'queue' | 'store' | 'logger'>,
  queueName: string,
  bullId: string,
  reason: string | undefined,
): Promise<void> {
  const queue = ctx.queue(queueName);
  const removed = await queue.remove(bullId).catch((error: unknown) => {
    ctx.logger.warn({ err: error, queueName, bullId }, 'could not remove a cancelled job from its queue');
    return 0;
  });
  if (removed === 1) return;
  // Locked: a worker runs it now. Keep the request for an attempt that starts later, and announce it.
  await ctx.store.cancelRequests.send(queueName, bullId, reason ?? '', CANCEL_REQUEST_TTL_SECONDS);
}

/** Cancels a cancelled parent's unfinished children (each as {@link cancelJob} would). */
async function cancelChildren(ctx: SeennContext, parent: SeennJob, reason: string | undefined): Promise<void> {
  const ids = await ctx.store.childIds(parent.userId, parent.id);
  const children = await ctx.store.readMany(parent.userId, ids);
  const options = reason === undefined ? {} : { reason };
  await Promise.all(
    children.map(async (child) => {
      if (child === null || isTerminal(child.record.job.status)) return;
      await cancelJob(ctx, child.record.job.id, options).catch((error: unknown) => {
        // Finished or gone meanwhile: nothing left to cancel.
        if (error instanceof SeennError && (error.code === 'CONFLICT' || error.code === 'NOT_FOUND')) return;
        throw error;
      });
    }),
  );
}

/** Something that can abort one running BullMQ job (the wrapper's view of BullMQ's `Worker`). */
export type AbortRunningJob = (reason: string) => void;

/** The requests of one queue a {@link CancelListener} holds: BullMQ id → reason and expiry (epoch ms). */
interface QueueRequests {
  readonly entries: Map<string, { reason: string; expiresAtMs: number }>;
  /** Settles once the queue's requests sent before this process listened are read in. */
  readonly loaded: Promise<void>;
}

/**
 * The worker side of cancellation: one subscription per Seenn instance to the cancel channel, and the
 * attempts running in this process. `seenn.processor` registers each attempt while it runs.
 *
 * An attempt that starts must also honour a request sent before it (kept for `CANCEL_REQUEST_TTL_SECONDS`).
 * On a single Redis, once the subscription is confirmed, each queue's kept requests are read once
 * (`CancelRequests.pending`) and the channel keeps that copy current, so an attempt starts without a
 * round trip (issue 10: one more round trip before every job held a wrapped worker to ~0.88 of bare);
 * when the subscriber's connection closes the copies are dropped, and until Redis confirms the
 * subscription again each attempt reads its own request key, as it always does on a Cluster (whose
 * subscriber may move between nodes without a `close`).
 */
export class CancelListener {
  private readonly running = new Map<string, Set<AbortRunningJob>>();
  private subscriber: RedisConnection | null = null;
  private subscribing: Promise<void> | null = null;
  /** Whether the subscription is confirmed and has held since: only then are {@link queues} complete. */
  private confirmed = false;
  /** The kept requests of each queue an attempt started in, while {@link confirmed}. */
  private readonly queues = new Map<string, QueueRequests>();

  /**
   * @param requests - the store's cancel requests
   * @param duplicate - opens the subscriber connection (closed with the Seenn instance)
   * @param logger - the logger
   */
  constructor(
    private readonly requests: CancelRequests,
    private readonly duplicate: () => RedisConnection,
    private readonly logger: Logger,
  ) {}

  /**
   * Registers a running attempt of BullMQ job `bullId` of `queueName`: `abort` is called when a cancel
   * for it arrives, or at once when one is already waiting. Returns the function that unregisters it.
   */
  async watch(queueName: string, bullId: string, abort: AbortRunningJob): Promise<() => void> {
    const id = `${queueName}\n${bullId}`;
    let set = this.running.get(id);
    if (set === undefined) {
      set = new Set();
      this.running.set(id, set);
    }
    set.add(abort);
    const stop = (): void => {
      const current = this.running.get(id);
      current?.delete(abort);
      if (current?.size === 0) this.running.delete(id);
    };
    try {
      await this.subscribe();
      const waiting = await this.waiting(queueName, bullId);
      if (waiting !== null) abort(waiting);
    } catch (error) {
      this.logger.warn(
        { err: error, queueName, bullId },
        'could not listen for cancel requests; this attempt cannot be cancelled',
      );
    }
    return stop;
  }

  /** The reason of a request kept for `bullId`, or `null`: from this process's copy when it is complete, else from Redis. */
  private async waiting(queueName: string, bullId: string): Promise<string | null> {
    if (!this.confirmed) return this.requests.waiting(queueName, bullId);
    let queue = this.queues.get(queueName);
    if (queue === undefined) {
      const entries: QueueRequests['entries'] = new Map();
      const loaded = this.requests.pending(queueName).then((kept) => {
        // Requests heard on the channel meanwhile are newer than what was read: they stay.
        for (const { bullId: id, reason, expiresAtMs } of kept)
          if (!entries.has(id)) entries.set(id, { reason, expiresAtMs });
      });
      queue = { entries, loaded };
      this.queues.set(queueName, queue);
      loaded.catch(() => {
        if (this.queues.get(queueName) === queue) this.queues.delete(queueName);
      });
    }
    await queue.loaded;
    // The subscription was lost while the copy was read: what it missed is only in Redis.
    if (!this.confirmed || this.queues.get(queueName) !== queue) return this.requests.waiting(queueName, bullId);
    const request = queue.entries.get(bullId);
    if (request === undefined) return null;
    if (request.expiresAtMs > Date.now()) return request.reason;
    queue.entries.delete(bullId);
    return null;
  }

  private subscribe(): Promise<void> {
    this.subscribing ??= (async () => {
      const subscriber = this.duplicate();
      this.subscriber = subscriber;
      await this.requests.listen(subscriber, {
        request: (queueName, bullId, reason) => this.deliver(queueName, bullId, reason),
        lost: () => this.lost(),
        complete: () => {
          if (this.subscriber === subscriber) this.confirmed = true;
        },
        warn: (error) =>
          this.logger.warn({ err: error }, 'could not subscribe to cancel requests again; reading them per attempt'),
      });
    })().catch((error: unknown) => {
      this.subscribing = null;
      throw error;
    });
    return this.subscribing;
  }

  /** The subscriber's connection closed: requests may be missed until Redis confirms it again. */
  private lost(): void {
    this.confirmed = false;
    this.queues.clear();
  }

  private deliver(queueName: string, bullId: string, reason: string): void {
    const entries = this.queues.get(queueName)?.entries;
    if (entries !== undefined) {
      const nowMs = Date.now();
      // Expired requests leave when a new one comes in, so the copy stays as small as Redis's set.
      for (const [id, request] of entries) if (request.expiresAtMs <= nowMs) entries.delete(id);
      entries.set(bullId, { reason, expiresAtMs: nowMs + CANCEL_REQUEST_TTL_SECONDS * 1000 });
    }
    const set = this.running.get(`${queueName}\n${bullId}`);
    if (set === undefined) return;
    for (const abort of [...set]) abort(reason);
  }

  /** Unsubscribes (the connection itself is closed by the Seenn instance). */
  async close(): Promise<void> {
    this.running.clear();
    this.lost();
    const subscriber = this.subscriber;
    this.subscriber = null;
    this.subscribing = null;
    if (subscriber !== null) await this.requests.unlisten(subscriber);
  }
}

const listeners = new WeakMap<SeennContext, CancelListener>();

/** The context's {@link CancelListener}, created once and closed with it. */
export function cancelListenerOf(ctx: SeennContext): CancelListener {
  let listener = listeners.get(ctx);
  if (listener === undefined) {
    const created = new CancelListener(ctx.store.cancelRequests, () => ctx.duplicate(), ctx.logger);
    ctx.onClose(() => created.close());
    listeners.set(ctx, created);
    listener = created;
  }
  return listener;
}
