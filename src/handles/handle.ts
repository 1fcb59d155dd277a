/**
 * Job handles: the seed's backend API. A handle is the stored job object itself, carrying
 * non-enumerable methods (so `JSON.stringify(handle)` is the plain job object):
 * `setProgress(progress, options)`, `complete({ result?, message? })`,
 * `fail({ error: { code, message, details? }, retryable? })`, `cancel({ reason? })`, `refresh()` and
 * `appendOutput(chunk, { stream })`.
 * Each resolves to the handle after updating its fields in place to the job as stored now.
 *
 * `setProgress`, `complete` and `fail` drive Seenn-only jobs (no BullMQ worker); on a job a BullMQ
 * worker drives they are refused with `CONFLICT` (`details.reason: 'worker-driven'`). `cancel`,
 * `refresh` and `appendOutput` work on every job.
 */
import type { SeennContext } from '../context.js';
import type { SeennJob } from '../model/job.js';
import type { SetProgressOptions } from '../model/progress.js';
import { applyComplete, applyFail, applyProgress, type CancelOptions, type FailUpdate } from '../model/updates.js';
import { isTerminal, type JobError } from '../model/job.js';
import type { JobRecord } from '../model/record.js';
import type { AppendOutputOptions } from '../model/output.js';
import { OutputWriter, type OutputTarget } from '../worker/output-writer.js';
import { cancelJob } from './cancel.js';
import { parseCompleteUpdate, parseFailUpdate, parseProgressUpdate } from './input.js';
import { alreadyFinished, isWorkerDriven, notFound, workerDriven, writeJob, type WriteDeps } from './write.js';

/** Options of a handle's `setProgress`: the worker's `setProgress` options. */
export type HandleProgressOptions = SetProgressOptions;

/** Options of a handle's `complete`. */
export interface HandleCompleteOptions {
  /** Seenn's `{ type?, url?, data? }`: `type` and `url` strings, `data` an object (at most 100 KB as JSON). */
  result?: Record<string, unknown>;
  /** A last status text. */
  message?: string;
}

/** Options of a handle's `fail`. */
export interface HandleFailOptions {
  error: JobError;
  /** Echoed in `error.details.retryable`. */
  retryable?: boolean;
}

/** The methods a handle carries (non-enumerable). */
export interface JobHandleMethods {
  /**
   * Shows progress on a Seenn-only job: `running` from the first call; the same validation as the
   * worker's `setProgress`; `message`, `stage`, `queue` replace when given and stay when left out,
   * `metadata` is merged. `CONFLICT` on a finished job or a worker-driven one.
   */
  setProgress(progress: number, options?: HandleProgressOptions): Promise<JobHandle>;
  /** Completes a Seenn-only job (progress 100). `CONFLICT` on a finished job or a worker-driven one. */
  complete(options?: HandleCompleteOptions): Promise<JobHandle>;
  /** Fails a Seenn-only job. `CONFLICT` on a finished job or a worker-driven one. */
  fail(options: HandleFailOptions): Promise<JobHandle>;
  /**
   * Cancels the job: a Seenn-only job ends `cancelled`; a waiting, prioritized or delayed BullMQ job is
   * removed from its queue and an active one aborted; a parent cancels its unfinished children.
   * `CONFLICT` when the job has already finished.
   */
  cancel(options?: CancelOptions): Promise<JobHandle>;
  /** Reads the job again (with its live queue position and computed ETA). `NOT_FOUND` once it expired. */
  refresh(): Promise<JobHandle>;
  /**
   * Appends `chunk` to one of the job's output streams, as a worker's `job.appendOutput` does (same
   * validation, bounds and batching; resolves to `undefined`, not the handle). `NOT_FOUND` for an
   * unknown job, `CONFLICT` once it has finished — also after this handle's own `complete`, `fail` or
   * `cancel`, which write the held output first.
   */
  appendOutput(chunk: unknown, options?: AppendOutputOptions): Promise<void>;
}

/** A job as stored, with the handle methods. */
export type JobHandle = SeennJob & JobHandleMethods;

/** A handle made from an id alone: its job fields are filled by the first call that reads or writes it. */
export type JobHandleRef = JobHandleMethods & Pick<SeennJob, 'id' | 'jobId'> & Partial<SeennJob>;

/** What a handle needs besides the context: the decorated read (positions, ETAs). */
export type DecoratedGet = (jobId: string) => Promise<SeennJob | null>;

/** Replaces the enumerable fields of `target` by those of `job`. */
function assignJob(target: Record<string, unknown>, job: SeennJob): void {
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, job);
}

/** Refuses a backend's change to a job it cannot drive. */
function drivable(record: JobRecord): JobRecord {
  if (isTerminal(record.job.status)) throw alreadyFinished(record.job);
  if (isWorkerDriven(record)) throw workerDriven(record.job);
  return record;
}

/** `setProgress` on job `jobId`: validated first (nothing written on bad input). */
export async function setJobProgress(
  ctx: WriteDeps,
  jobId: string,
  progress: unknown,
  options: unknown,
): Promise<SeennJob> {
  const update = parseProgressUpdate(progress, options);
  return (await writeJob(ctx, jobId, ({ record }) => applyProgress(drivable(record), update, Date.now()))).after.job;
}

/** `complete` on job `jobId`. */
export async function completeJob(ctx: WriteDeps, jobId: string, options: unknown): Promise<SeennJob> {
  const update = parseCompleteUpdate(options);
  return followedByOutput(
    ctx,
    (await writeJob(ctx, jobId, ({ record }) => applyComplete(drivable(record), update, Date.now()))).after.job,
  );
}

/** `fail` on job `jobId`. */
export async function failJob(ctx: WriteDeps, jobId: string, options: unknown): Promise<SeennJob> {
  const update: FailUpdate = parseFailUpdate(options);
  return followedByOutput(
    ctx,
    (await writeJob(ctx, jobId, ({ record }) => applyFail(drivable(record), update, Date.now()))).after.job,
  );
}

/**
 * After a job ended: its output keys take the snapshot's TTL (now `finishedJobSeconds`), so the
 * output lives as long as the job. A failure here is logged; the job has ended all the same.
 */
async function followedByOutput(ctx: Pick<SeennContext, 'output' | 'logger'>, job: SeennJob): Promise<SeennJob> {
  await ctx.output
    .expire(job.userId, job.id)
    .catch((error: unknown) =>
      ctx.logger.warn({ err: error, jobId: job.id }, 'could not give the output of an ended job its TTL'),
    );
  return job;
}

/**
 * Makes `target` (a job object, or `{ id, jobId }` for a handle made from an id) a handle of job
 * `jobId`: defines the non-enumerable methods on it and returns it.
 */
export function attachHandle<T extends Pick<SeennJob, 'id' | 'jobId'>>(
  ctx: SeennContext,
  get: DecoratedGet,
  target: T,
): T & JobHandleMethods {
  const jobId = target.id;
  const self = target as unknown as Record<string, unknown>;
  const update = async (job: Promise<SeennJob>): Promise<JobHandle> => {
    assignJob(self, await job);
    return target as unknown as JobHandle;
  };
  const output = handleOutput(ctx, jobId);
  /** Writes the held output, then ends the job with `end` (output first: a finished job's output is final). */
  const finish = async (end: () => Promise<SeennJob>): Promise<JobHandle> => {
    await output.flush();
    const job = await update(end());
    output.close(() => alreadyFinished(job));
    return job;
  };
  const methods: JobHandleMethods = {
    setProgress: (progress, options) => update(setJobProgress(ctx, jobId, progress, options)),
    complete: (options) => finish(() => completeJob(ctx, jobId, options)),
    fail: (options) => finish(() => failJob(ctx, jobId, options)),
    cancel: (options) => finish(() => cancelJob(ctx, jobId, options)),
    appendOutput: (chunk, options) => output.append(chunk, options),
    refresh: () =>
      update(
        get(jobId).then((job) => {
          if (job === null) throw notFound(jobId);
          return job;
        }),
      ),
  };
  for (const [name, value] of Object.entries(methods))
    Object.defineProperty(target, name, { value, enumerable: false, configurable: true, writable: true });
  return target as T & JobHandleMethods;
}

/**
 * The output writer of a handle: its job's user is found on the first write (the owner index, then
 * the snapshot: `NOT_FOUND` when there is none, `CONFLICT` when the job has finished).
 */
function handleOutput(ctx: Pick<SeennContext, 'store' | 'output' | 'options' | 'logger'>, jobId: string): OutputWriter {
  const resolve = async (): Promise<OutputTarget> => {
    const snapshot = await ctx.store.readById(jobId);
    if (snapshot === null) throw notFound(jobId);
    if (isTerminal(snapshot.record.job.status)) throw alreadyFinished(snapshot.record.job);
    return { userId: snapshot.record.job.userId, jobId };
  };
  return new OutputWriter({ store: ctx.output, options: ctx.options.output }, resolve, (error) =>
    ctx.logger.warn({ err: error, jobId }, 'a held output write failed; the next write retries it'),
  );
}
