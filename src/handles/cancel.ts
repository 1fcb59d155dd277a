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

/**
 * The worker side of cancellation: one subscription per Seenn instance to the cancel channel, and the
 * attempts running in this process. `seenn.processor` registers each attempt while it runs.
 */
export class CancelListener {
  private readonly running = new Map<string, Set<AbortRunningJob>>();
  private subscriber: RedisConnection | null = null;
  private subscribing: Promise<void> | null = null;

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
      const waiting = await this.requests.waiting(queueName, bullId);
      if (waiting !== null) abort(waiting);
    } catch (error) {
      this.logger.warn(
        { err: error, queueName, bullId },
        'could not listen for cancel requests; this attempt cannot be cancelled',
      );
    }
    return stop;
  }

  private subscribe(): Promise<void> {
    this.subscribing ??= (async () => {
      const subscriber = this.duplicate();
      this.subscriber = subscriber;
      await this.requests.listen(subscriber, (queueName, bullId, reason) => this.deliver(queueName, bullId, reason));
    })().catch((error: unknown) => {
      this.subscribing = null;
      throw error;
    });
    return this.subscribing;
  }

  private deliver(queueName: string, bullId: string, reason: string): void {
    const set = this.running.get(`${queueName}\n${bullId}`);
    if (set === undefined) return;
    for (const abort of [...set]) abort(reason);
  }

  /** Unsubscribes (the connection itself is closed by the Seenn instance). */
  async close(): Promise<void> {
    this.running.clear();
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
