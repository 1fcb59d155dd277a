/**
 * `seenn.jobs.createParent(input)` and `seenn.jobs.createChild(input)`: a parent first, then its
 * children one by one (0-based `childIndex`), as in Seenn. The parent is a Seenn-only job (BullMQ
 * never runs it); its progress, counters and status follow its children (see `model/parent.ts`).
 */
import type { JobsOptions } from 'bullmq';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { newJobId } from '../model/ids.js';
import type { SeennJob } from '../model/job.js';
import { jobEventOf } from '../model/record.js';
import { parseOrThrow } from '../options.js';
import { commitNewChild, type ParentState } from '../store/family.js';
import type { JobStore } from '../store/job-store.js';
import {
  CreateChildInputSchema,
  CreateParentInputSchema,
  type CreateChildInput,
  type CreateParentInput,
  type ParsedChildInput,
} from './batch-input.js';
import { markEnqueueFailed, planJob, plannedJobData, seennParentRecord, type PlannedJob } from './batch-records.js';

/**
 * Creates a parent expecting `childCount` children: `pending`, progress 0, `children` counters all
 * pending. Bad input throws a `VALIDATION_ERROR` (or `PAYLOAD_TOO_LARGE`) and writes nothing.
 */
export async function createParent(
  ctx: Pick<SeennContext, 'store' | 'options'>,
  input: CreateParentInput,
): Promise<SeennJob> {
  const parsed = parseOrThrow(CreateParentInputSchema, input, 'jobs.createParent input', 'VALIDATION_ERROR');
  const id = newJobId();
  const spec = {
    total: parsed.childCount,
    mode: parsed.childProgressMode,
    failParentOnChildFailure: parsed.failParentOnChildFailure,
  };
  const record = seennParentRecord(id, ctx.options.appId, parsed, spec, Date.now(), parsed.queue);
  await ctx.store.setOwners(parsed.userId, [id]);
  const answer = await ctx.store.commitNew(parsed.userId, [
    { expectedVersion: 0, record, event: jobEventOf(record.job), index: true },
  ]);
  if (answer.status !== 'ok')
    throw new SeennError('STORE_ERROR', `the first snapshot of parent ${id} was refused (${answer.status})`, {
      details: { jobId: id },
    });
  return record.job;
}

/**
 * Creates child `childIndex` of a parent made by `createParent`: commits the child's first snapshot
 * together with the parent's counters, then adds the BullMQ job (id = a new ULID). Throws
 * `NOT_FOUND` for an unknown parent, `VALIDATION_ERROR` for a job that is no such parent, another
 * user, an index at or above `childCount`, or no queue, and `CONFLICT` when the index is taken —
 * each before anything is written. If BullMQ refuses the job, the child turns `failed`
 * (`ENQUEUE_FAILED`, which its parent counts) and the BullMQ error is rethrown.
 */
export async function createChild(
  ctx: Pick<SeennContext, 'store' | 'options' | 'queue' | 'logger'>,
  input: CreateChildInput,
): Promise<SeennJob> {
  const parsed = parseOrThrow(CreateChildInputSchema, input, 'jobs.createChild input', 'VALIDATION_ERROR');
  const found = await ctx.store.readById(parsed.parentJobId);
  if (found === null)
    throw new SeennError('NOT_FOUND', `parent job ${parsed.parentJobId} does not exist`, {
      details: { parentJobId: parsed.parentJobId },
    });
  const parent = found.record;
  const queue = checkChild(parsed, { record: parent, version: found.version });
  const secret = await ctx.store.descriptorSecret();
  const id = newJobId();
  const planned = planJob(
    ctx.options.appId,
    secret,
    id,
    { userId: parent.job.userId, jobType: parsed.jobType, title: parsed.title, metadata: parsed.metadata },
    {
      parent:
        parsed.weight === undefined
          ? { parentJobId: parent.job.id, childIndex: parsed.childIndex }
          : { parentJobId: parent.job.id, childIndex: parsed.childIndex, weight: parsed.weight },
    },
    queue,
    parsed.opts as JobsOptions | undefined,
    Date.now(),
  );
  const userId = parent.job.userId;
  await ctx.store.setOwners(userId, [id]);
  try {
    await commitChild(ctx.store, planned, parsed);
  } catch (error) {
    await ctx.store.releaseOwners([id]);
    throw error;
  }
  try {
    await ctx.queue(queue).add(parsed.jobType, plannedJobData(planned, parsed.data), planned.opts);
  } catch (error) {
    await markEnqueueFailed(ctx, userId, parent.job.id, [id], error, false);
    throw error;
  }
  return planned.record.job;
}

/** Checks a child against its parent; returns the child's queue. */
function checkChild(input: ParsedChildInput, parent: ParentState): string {
  const { job, x } = parent.record;
  const details = { parentJobId: job.id, childIndex: input.childIndex };
  if (x.aggregate === undefined) throw new SeennError('VALIDATION_ERROR', `job ${job.id} is not a parent`, { details });
  if (x.queueName !== undefined)
    throw new SeennError('VALIDATION_ERROR', `job ${job.id} is a BullMQ flow parent; its children come with the flow`, {
      details,
    });
  if (input.userId !== undefined && input.userId !== job.userId)
    throw new SeennError('VALIDATION_ERROR', "a child must belong to its parent's user", { details });
  if (input.childIndex >= x.aggregate.total) {
    throw new SeennError(
      'VALIDATION_ERROR',
      `childIndex ${input.childIndex} is out of range: parent ${job.id} expects ${x.aggregate.total} children`,
      { details: { ...details, childCount: x.aggregate.total } },
    );
  }
  const queue = input.queue ?? x.childQueue;
  if (queue === undefined)
    throw new SeennError('VALIDATION_ERROR', 'the child needs a queue (its parent names none)', { details });
  return queue;
}

/** Commits a new child with its parent's counters; `CONFLICT` when its index is taken. */
async function commitChild(store: JobStore, planned: PlannedJob, input: ParsedChildInput): Promise<void> {
  const { parentJobId, childIndex } = input;
  const outcome = await commitNewChild(store, planned.record);
  if (outcome === 'committed') return;
  if (outcome === 'no-parent')
    throw new SeennError('NOT_FOUND', `parent job ${parentJobId} does not exist`, { details: { parentJobId } });
  if (outcome === 'index-taken')
    throw new SeennError('CONFLICT', `parent ${parentJobId} already has a child at index ${childIndex}`, {
      details: { parentJobId, childIndex },
    });
  throw new SeennError('STORE_ERROR', `parent ${parentJobId} kept changing while a child was added`, {
    details: { parentJobId },
  });
}
