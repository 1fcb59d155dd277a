/**
 * The BullMQ side of a Seenn job, for `GET /api/jobs/:id`: where BullMQ has it and what it knows.
 */
import type { SeennContext } from '../context.js';

/** A BullMQ job as the admin route shows it. */
export interface BullJobView {
  queue: string;
  id: string;
  /** BullMQ's state (`waiting`, `prioritized`, `delayed`, `active`, `waiting-children`, `completed`, `failed`). */
  state: string;
  attemptsMade: number;
  /** BullMQ's progress value as stored (for wrapped processors, the Seenn progress object). */
  progress: unknown;
  failedReason?: string;
  /** When the job was added, epoch ms. */
  timestamp: number;
  /** When the last attempt started, epoch ms. */
  processedOn?: number;
  /** When the job finished, epoch ms. */
  finishedOn?: number;
}

/** The BullMQ job `bullId` of `queueName`, or `null` when BullMQ no longer has it (removed or cleaned). */
export async function readBullJob(
  ctx: Pick<SeennContext, 'queue'>,
  queueName: string,
  bullId: string,
): Promise<BullJobView | null> {
  const job = await ctx.queue(queueName).getJob(bullId);
  if (job === undefined || job === null) return null;
  const state = await job.getState();
  if (state === 'unknown') return null;
  const view: BullJobView = {
    queue: queueName,
    id: bullId,
    state,
    attemptsMade: job.attemptsMade,
    progress: job.progress,
    timestamp: job.timestamp,
  };
  if (job.failedReason) view.failedReason = job.failedReason;
  if (job.processedOn !== undefined && job.processedOn !== null) view.processedOn = job.processedOn;
  if (job.finishedOn !== undefined && job.finishedOn !== null) view.finishedOn = job.finishedOn;
  return view;
}
