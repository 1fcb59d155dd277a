/**
 * What commits of one queue's jobs cause besides the job's own keys, gathered over one read and
 * written in one round trip (all keys in the queue's slot): the set of the queue's unfinished jobs
 * (what a re-sync revisits) and the completion history ETAs are computed from. Per job this was four
 * to ten commands in up to three round trips; per read it is one pipeline, which also holds one call
 * of the script that scores (or drops) the ETA predictions of all the read's finished jobs of the
 * queue (position/calibration.ts; Redis answers it with one EXISTS when the queue has none). History
 * sizes, TTL and the calibration window are the instance's `positions` options (`ctx.history`).
 *
 * Best effort as before: a job whose commit went through but whose effects were not written (the
 * process died in between) is not re-counted when its events are read again (they are duplicates
 * then). Flushed before the read's checkpoint moves.
 */
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { addCompletions, addEtaScoring, type Completion } from '../position/index.js';
import { writeQueueBookkeeping } from '../store/queue-io.js';

/** What {@link QueueEffects} writes with. */
export type QueueEffectsDeps = Pick<SeennContext, 'redis' | 'keys' | 'history'>;

/** The side effects of one queue's commits, waiting to be written. */
export class QueueEffects {
  /** Seenn job id → whether the job is unfinished (true: add to the live set; false: remove). */
  private live = new Map<string, boolean>();
  private completions: Completion[] = [];

  /**
   * @param ctx - what the writes need: the connection, the keys and the history options (a
   *   `SeennContext` will do)
   * @param queueName - the queue whose commits these are
   */
  constructor(
    private readonly ctx: QueueEffectsDeps,
    readonly queueName: string,
  ) {}

  /** A job the publisher applied its first event to: it belongs to the queue's unfinished jobs. */
  started(jobId: string): void {
    this.live.set(jobId, true);
  }

  /** A job that finished; `completion` counts it toward the queue's ETA history. */
  finished(jobId: string, completion?: Completion): void {
    this.live.set(jobId, false);
    if (completion !== undefined) this.completions.push(completion);
  }

  /** Whether there is nothing to write. */
  get empty(): boolean {
    return this.live.size === 0 && this.completions.length === 0;
  }

  /** Writes what was gathered (one pipeline) and starts over. */
  async flush(): Promise<void> {
    if (this.empty) return;
    const live = this.live;
    const completions = this.completions;
    this.live = new Map();
    this.completions = [];
    const added: string[] = [];
    const removed: string[] = [];
    for (const [jobId, unfinished] of live) (unfinished ? added : removed).push(jobId);
    const scored: { jobId: string; finishedAtMs: number; failed: boolean }[] = [];
    for (const { jobId, finishedAtMs, failed } of completions)
      if (jobId !== undefined) scored.push({ jobId, finishedAtMs, failed: failed ?? false });
    let scoringError: ReturnType<typeof addEtaScoring> = () => Promise.resolve(null);
    let replies: [Error | null, unknown][];
    try {
      replies = await writeQueueBookkeeping(
        this.ctx.redis,
        this.ctx.keys,
        this.queueName,
        { added, removed },
        (pipeline) => {
          addCompletions(pipeline, this.ctx.keys, this.queueName, completions, this.ctx.history);
          scoringError = addEtaScoring(
            pipeline,
            this.ctx.redis,
            this.ctx.keys,
            this.queueName,
            scored,
            this.ctx.history,
          );
        },
      );
    } catch (error) {
      throw new SeennError('STORE_ERROR', 'could not record finished jobs', {
        cause: error,
        details: { queueName: this.queueName },
      });
    }
    const scoring = await scoringError(replies);
    if (scoring !== null)
      throw new SeennError('STORE_ERROR', 'could not record finished jobs', {
        cause: scoring,
        details: { queueName: this.queueName },
      });
    const failed = replies.find(([error]) => error !== null && !error.message.startsWith('NOSCRIPT'));
    if (failed)
      throw new SeennError('STORE_ERROR', 'could not record finished jobs', {
        cause: failed[0],
        details: { queueName: this.queueName },
      });
  }
}
