/**
 * How a backend's change to a job reaches the store: read the snapshot, compute the next record, and
 * commit it through the one store path every change takes (`JobStore.commit`: one script, one replay
 * entry, one live event), together with the change it makes to the job's parent (same commit, CAS on
 * both), retried on a moved version.
 */
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { eventNameForStatus } from '../model/events.js';
import { isTerminal, type SeennJob } from '../model/job.js';
import type { JobRecord } from '../model/record.js';
import { runsKey } from '../position/index.js';
import { parentLock, parentLockKey, readParent, withParentChange } from '../store/family.js';
import type { JobChange, VersionedRecord } from '../store/job-store.js';

/** Commits retried at most this many times when the job (or its parent) keeps moving. */
const MAX_WRITE_RETRIES = 50;

/** The 404 of a job that is unknown or has expired; `details.id` names it (the Seenn SDK reads it). */
export function notFound(jobId: string): SeennError {
  return new SeennError('NOT_FOUND', `job ${jobId} not found`, { details: { id: jobId } });
}

/** The 409 of a change to a job that has finished. */
export function alreadyFinished(job: SeennJob): SeennError {
  return new SeennError('CONFLICT', `job ${job.id} is already ${job.status}; a finished job never changes`, {
    details: { id: job.id, status: job.status, reason: 'terminal' },
  });
}

/** Whether a BullMQ worker drives the job (its state follows BullMQ's events, not a handle). */
export function isWorkerDriven(record: JobRecord): boolean {
  return record.x.queueName !== undefined;
}

/** The 409 of a handle's `setProgress`/`complete`/`fail` on a job a BullMQ worker drives. */
export function workerDriven(job: SeennJob): SeennError {
  return new SeennError(
    'CONFLICT',
    `job ${job.id} is driven by its BullMQ worker: call job.setProgress in the processor and return or throw there; only cancel() and refresh() work on its handle`,
    {
      details: { id: job.id, reason: 'worker-driven' },
    },
  );
}

/** The replay event announcing a job's state. */
export function eventOf(job: SeennJob): { name: string; data: string } {
  return { name: eventNameForStatus(job.status), data: JSON.stringify(job) };
}

/**
 * Reads job `jobId`, computes its next record with `next` (which may throw a coded error, or return
 * `null` to change nothing), and commits it with its parent's change. Retries on a moved version.
 *
 * @returns the record before and after (`after` = `before` when nothing changed)
 */
export async function writeJob(
  ctx: SeennContext,
  jobId: string,
  next: (snapshot: VersionedRecord) => JobRecord | null,
): Promise<{ before: JobRecord; after: JobRecord }> {
  for (let attempt = 0; attempt < MAX_WRITE_RETRIES; attempt += 1) {
    const snapshot = await ctx.store.readById(jobId);
    if (snapshot === null) throw notFound(jobId);
    const record = next(snapshot);
    if (record === null) return { before: snapshot.record, after: snapshot.record };
    const userId = snapshot.record.job.userId;
    const change: JobChange = { expectedVersion: snapshot.version, record, event: eventOf(record.job) };
    const link = record.job.parent;
    const atMs = Date.parse(record.job.updatedAt);
    // A parent this change ends (its last child finished): its output then follows it.
    let endedParent: string | null = null;
    const commit = async (): Promise<string> => {
      const parent = link === undefined ? null : await readParent(ctx.store, userId, link.parentJobId);
      const changes = withParentChange(change, snapshot.record, parent, atMs);
      const parentChange = parent === null ? undefined : changes.find((c) => c.record.job.id === parent.record.job.id);
      endedParent =
        parentChange !== undefined &&
        isTerminal(parentChange.record.job.status) &&
        !isTerminal(parent?.record.job.status ?? 'queued')
          ? parentChange.record.job.id
          : null;
      return (await ctx.store.commit(userId, changes)).status;
    };
    const status =
      link === undefined
        ? await commit()
        : await parentLock(ctx.store).run(parentLockKey(userId, link.parentJobId), commit);
    if (status === 'ok') {
      if (endedParent !== null) {
        const parentId: string = endedParent;
        await ctx.output
          .expire(userId, parentId)
          .catch((error: unknown) =>
            ctx.logger.warn({ err: error, jobId: parentId }, 'could not give the output of an ended parent its TTL'),
          );
      }
      await afterWrite(ctx, snapshot.record, record);
      return { before: snapshot.record, after: record };
    }
    if (status !== 'conflict')
      throw new SeennError('STORE_ERROR', `the change to job ${jobId} was refused (${status})`, {
        details: { id: jobId },
      });
  }
  throw new SeennError('STORE_ERROR', `job ${jobId} kept changing while it was written`, { details: { id: jobId } });
}

/**
 * After a Seenn-only job completed: its run time joins its workflow's history (`workflowId`, else
 * `jobType`), so later jobs of that workflow get a computed ETA — as a worker's completed run does.
 * Best effort: a failure is logged.
 */
async function afterWrite(ctx: SeennContext, before: JobRecord, after: JobRecord): Promise<void> {
  const { job } = after;
  if (
    job.status !== 'completed' ||
    isTerminal(before.job.status) ||
    isWorkerDriven(after) ||
    after.x.aggregate !== undefined
  )
    return;
  const durationMs = Math.max(
    0,
    Date.parse(job.completedAt ?? job.updatedAt) - Date.parse(job.startedAt ?? job.createdAt),
  );
  const key = runsKey(ctx.keys, undefined, job.workflowId ?? job.jobType);
  try {
    await ctx.redis
      .pipeline()
      .lpush(key, durationMs)
      .ltrim(key, 0, ctx.history.durationSamples - 1)
      .pexpire(key, ctx.history.historySeconds * 1000)
      .exec();
  } catch (error) {
    ctx.logger.warn({ err: error, jobId: job.id }, 'could not record the run time of a completed job');
  }
}
