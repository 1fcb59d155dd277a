/**
 * `seenn.jobs.start(input)`: adds a BullMQ job that carries its Seenn descriptor and writes the
 * job's first snapshot, so `seenn.jobs.get(id)` answers at once and the user's replay stream holds
 * a `job.started` before any worker or publisher runs.
 */
import type { JobsOptions } from 'bullmq';
import type { z } from 'zod';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { DESCRIPTOR_KEY, JobFieldsSchema, StoredDescriptorSchema, type StoredDescriptor } from '../model/descriptor.js';
import { sealDescriptor } from '../model/descriptor-seal.js';
import { jobEventOf } from '../model/record.js';
import { newJobId } from '../model/ids.js';
import { IsoTimeInputSchema, QueueNameSchema, type SeennJob } from '../model/job.js';
import { createRecord, reduce, type BullJobFacts } from '../model/reducer.js';
import { parseOrThrow } from '../options.js';
import { transact } from '../store/transaction.js';
import { JobDataSchema, jobsOptionsSchema } from './input-schemas.js';

/** Input of `seenn.jobs.start`. */
export interface StartJobInput {
  /** The BullMQ queue to add the job to (no `:`). */
  queue: string;
  /** The user who sees the job. */
  userId: string;
  /** The job's type; also the BullMQ job name. */
  jobType: string;
  /** What the user sees the job as. */
  title: string;
  /** The job's data for the worker: a plain object, without the reserved key `__seenn`. */
  data?: Record<string, unknown>;
  /** Shown to the user with the job (at most 10 KB as JSON). */
  metadata?: Record<string, unknown>;
  /**
   * BullMQ job options, passed through. `jobId` is not allowed (the Seenn id, a ULID, is the BullMQ
   * id) and neither is `deduplication` (a deduplicated add would not create the job started here).
   */
  opts?: JobsOptions;
  /** When the job is expected to finish: an ISO-8601 time with offset, or a `Date`. */
  estimatedCompletionAt?: string | Date;
  /** Groups related jobs. */
  workflowId?: string;
}

/** The BullMQ options `jobs.start` checks before anything is written. */
const JobsOptionsSchema = jobsOptionsSchema({
  jobId: 'jobId is chosen by Seenn (a ULID); leave it out',
  deduplication: 'deduplication is not supported by jobs.start: every call starts a new job',
});

const StartJobInputSchema = JobFieldsSchema.extend({
  queue: QueueNameSchema,
  data: JobDataSchema.optional(),
  opts: JobsOptionsSchema.optional(),
  estimatedCompletionAt: IsoTimeInputSchema.optional(),
}).strict();

/**
 * Starts a job: validates `input`, records the owner, commits the job's first snapshot with a
 * `job.started` event, then adds the BullMQ job (id = a new ULID, `data.__seenn` = the sealed descriptor,
 * `timestamp` = the snapshot's `createdAt`). If BullMQ refuses the job, the snapshot turns `failed`
 * (`ENQUEUE_FAILED`) and the BullMQ error is rethrown.
 * Bad input throws a `VALIDATION_ERROR` (or `PAYLOAD_TOO_LARGE`) and adds nothing.
 *
 * @returns the Seenn job as it is stored now (`queued`, or `pending` when delayed)
 */
export async function startJob(
  ctx: Pick<SeennContext, 'store' | 'options' | 'queue' | 'logger'>,
  input: StartJobInput,
): Promise<SeennJob> {
  const parsed = parseOrThrow(StartJobInputSchema, input, 'jobs.start input', 'VALIDATION_ERROR');
  const secret = await ctx.store.descriptorSecret();
  const id = newJobId();
  const descriptor = parseOrThrow(
    StoredDescriptorSchema,
    descriptorOf(id, parsed),
    'job descriptor',
    'VALIDATION_ERROR',
  );

  // The snapshot is written before the BullMQ job exists, so the publisher always finds it: a fast job
  // removed on completion could otherwise vanish before anyone described it.
  const opts: JobsOptions = { ...(parsed.opts as JobsOptions | undefined), jobId: id };
  opts.timestamp ??= Date.now();
  const facts: BullJobFacts = {
    queueName: parsed.queue,
    bullId: id,
    createdAtMs: opts.timestamp,
    maxAttempts: opts.attempts ?? 1,
    state: (opts.delay ?? 0) > 0 ? 'delayed' : 'waiting',
  };
  const record = createRecord(id, ctx.options.appId, descriptor, facts);
  await ctx.store.setOwners(descriptor.userId, [id]);
  const answer = await ctx.store.commitNew(descriptor.userId, [
    { expectedVersion: 0, record, event: jobEventOf(record.job), index: true },
  ]);
  if (answer.status !== 'ok')
    throw new SeennError('STORE_ERROR', `the first snapshot of job ${id} was refused (${answer.status})`, {
      details: { jobId: id },
    });

  try {
    await ctx
      .queue(parsed.queue)
      .add(
        parsed.jobType,
        { ...parsed.data, [DESCRIPTOR_KEY]: sealDescriptor(secret, parsed.queue, id, descriptor) },
        opts,
      );
  } catch (error) {
    // BullMQ refused the job: the user sees it fail rather than wait forever.
    await markRefused(ctx, descriptor.userId, id, error);
    throw error;
  }
  return record.job;
}

/**
 * Fails a job whose first snapshot was just written (version 1) because BullMQ refused it
 * (`ENQUEUE_FAILED`). A snapshot that moved since (the job exists after all: the publisher applied
 * its events) is left alone. Best effort: problems are logged, since the caller rethrows BullMQ's error.
 */
async function markRefused(
  deps: Pick<SeennContext, 'store' | 'logger'>,
  userId: string,
  jobId: string,
  error: unknown,
): Promise<void> {
  const message = error instanceof Error ? error.message : String(error);
  try {
    await transact(deps.store, {
      userId,
      jobIds: [jobId],
      plan: ([snapshot]) => {
        if (snapshot === null || snapshot === undefined || snapshot.version !== 1) return { unchanged: undefined };
        const failed = reduce(snapshot.record, { kind: 'enqueue-failed', at: Date.now(), message });
        return { changes: [{ expectedVersion: 1, record: failed, event: jobEventOf(failed.job) }], value: undefined };
      },
    });
  } catch (commitError) {
    deps.logger.warn({ err: commitError, jobId }, 'could not record the failed enqueue');
  }
}

/** The descriptor stored in the BullMQ job's data; optional fields only when given. */
function descriptorOf(id: string, input: z.output<typeof StartJobInputSchema>): StoredDescriptor {
  const descriptor: StoredDescriptor = { id, userId: input.userId, jobType: input.jobType, title: input.title };
  if (input.metadata !== undefined) descriptor.metadata = input.metadata;
  if (input.workflowId !== undefined) descriptor.workflowId = input.workflowId;
  if (input.estimatedCompletionAt !== undefined) descriptor.estimatedCompletionAt = input.estimatedCompletionAt;
  return descriptor;
}
