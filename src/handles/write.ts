/**
 * How a backend's change to a job reaches the store: read the snapshot, compute the next record, and
 * commit it through the one store path every change takes (`JobStore.commit`: one script, one replay
 * entry, one live event), together with the change it makes to the job's parent (same commit, CAS on
 * both), as one store transaction (`store/transaction.ts`).
 */
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { finishedAtMs, isTerminal, type SeennJob } from '../model/job.js';
import { jobEventOf, type JobRecord } from '../model/record.js';
import { withParentChange, type ParentState } from '../store/family.js';
import type { JobChange, VersionedRecord } from '../store/job-store.js';
import { transact } from '../store/transaction.js';

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

/** What {@link writeJob} uses of the Seenn context. */
export type WriteDeps = Pick<SeennContext, 'store' | 'output' | 'logger' | 'history'>;

/** What one write attempt answers: the record before and after, and a parent it ended (if any). */
interface Written {
  before: JobRecord;
  after: JobRecord;
  endedParent: string | null;
}

/**
 * Reads job `jobId`, computes its next record with `next` (which may throw a coded error, or return
 * `null` to change nothing), and commits it with its parent's change — one store transaction
 * (`store/transaction.ts`: retried on a moved version, under the parent lock).
 *
 * @returns the record before and after (`after` = `before` when nothing changed)
 */
export async function writeJob(
  deps: WriteDeps,
  jobId: string,
  next: (snapshot: VersionedRecord) => JobRecord | null,
): Promise<{ before: JobRecord; after: JobRecord }> {
  const { store } = deps;
  const userId = await store.ownerOf(jobId);
  if (userId === null) throw notFound(jobId);
  const outcome = await transact<Written>(store, {
    userId,
    jobIds: [jobId],
    plan: ([snapshot]) => {
      if (snapshot === null || snapshot === undefined) throw notFound(jobId);
      const before = snapshot.record;
      const record = next(snapshot);
      if (record === null) return { unchanged: { before, after: before, endedParent: null } };
      const change: JobChange = { expectedVersion: snapshot.version, record, event: jobEventOf(record.job) };
      const atMs = Date.parse(record.job.updatedAt);
      return {
        parentJobId: record.job.parent?.parentJobId ?? null,
        step: (parent) => {
          const changes = withParentChange(change, before, parent, atMs);
          return { changes, value: { before, after: record, endedParent: endedParentOf(parent, changes) } };
        },
      };
    },
  });
  if (outcome.status === 'exhausted')
    throw new SeennError('STORE_ERROR', `job ${jobId} kept changing while it was written`, { details: { id: jobId } });
  if (outcome.status !== 'committed' && outcome.status !== 'unchanged')
    throw new SeennError('STORE_ERROR', `the change to job ${jobId} was refused (${outcome.status})`, {
      details: { id: jobId },
    });
  const { before, after, endedParent } = outcome.value;
  if (outcome.status === 'unchanged') return { before, after };
  if (endedParent !== null) {
    // A parent this change ended (its last child finished): its output then follows it.
    await deps.output
      .expire(userId, endedParent)
      .catch((error: unknown) =>
        deps.logger.warn({ err: error, jobId: endedParent }, 'could not give the output of an ended parent its TTL'),
      );
  }
  await afterWrite(deps, before, after);
  return { before, after };
}

/** The parent a family commit ends (it was unfinished and its change finishes it), or `null`. */
function endedParentOf(parent: ParentState | null, changes: readonly JobChange[]): string | null {
  if (parent === null || isTerminal(parent.record.job.status)) return null;
  const parentId = parent.record.job.id;
  const change = changes.find((candidate) => candidate.record.job.id === parentId);
  return change !== undefined && isTerminal(change.record.job.status) ? parentId : null;
}

/**
 * After a Seenn-only job completed: its run time joins its workflow's history (`workflowId`, else
 * `jobType`), so later jobs of that workflow get a computed ETA — as a worker's completed run does.
 * Best effort: a failure is logged.
 */
async function afterWrite(deps: WriteDeps, before: JobRecord, after: JobRecord): Promise<void> {
  const { job } = after;
  if (
    job.status !== 'completed' ||
    isTerminal(before.job.status) ||
    isWorkerDriven(after) ||
    after.x.aggregate !== undefined
  )
    return;
  const durationMs = Math.max(0, finishedAtMs(job) - Date.parse(job.startedAt ?? job.createdAt));
  try {
    await deps.store.seennOnlyRuns.record(job.workflowId ?? job.jobType, durationMs, deps.history);
  } catch (error) {
    deps.logger.warn({ err: error, jobId: job.id }, 'could not record the run time of a completed job');
  }
}
