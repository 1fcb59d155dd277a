/**
 * `seenn.processor(fn, options)`: wraps a BullMQ processor so its job gains
 * `setProgress(progress, { message, stage, queue, estimatedCompletionAt, metadata })`. Every value
 * goes out as ONE {@link ProgressPayload} through BullMQ's own `job.updateProgress`, coalesced by
 * `progressThrottleMs`; a thrown error is reported as `error: { code, message }` (its own only when
 * marked `expose: true`, see `job-errors.ts`) and rethrown as it is.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import { ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseOrThrow } from '../options.js';
import { PROGRESS_MARKER, parseSetProgress, type ProgressPayload, type SetProgressOptions } from '../model/progress.js';
import { mergeMetadata } from '../model/updates.js';
import { CoalescingWriter } from './coalescing-writer.js';
import { OutputWriter, type OutputServices, type OutputTarget } from './output-writer.js';
import { derivedJobId } from '../model/ids.js';
import type { AppendOutputOptions } from '../model/output.js';
import { SeennError } from '../errors.js';
import { isControlFlowError, isUserFacingError, jobErrorOf } from './job-errors.js';
import { resolveProcessorOptions, type ProcessorOptions } from './options.js';

/*
 * The type parameters default to `any`, as BullMQ's own `Job` and `Processor` do: job data is whatever
 * the producer stored, and with `unknown` the documented `new Worker('q', seenn.processor(async (job) =>
 * job.data.url))` would not compile. Pass type arguments (or type the Worker) to get checking.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */

/** The BullMQ job a wrapped processor receives: a `Job` plus `setProgress`. */
export type SeennWorkerJob<Data = any, Result = any, Name extends string = string> = Job<Data, Result, Name> & {
  /**
   * Shows the user how far the job is. `progress` is a finite number 0–100, stored rounded to an
   * integer; `options.stage` needs `current ≤ total`; `options.metadata` at most 10 KB as JSON.
   * As in Seenn, `message`, `stage`, `queue` and `estimatedCompletionAt` replace the previous value
   * when given and stay when left out; `metadata` is merged into what earlier calls set (at most 10 KB
   * once merged). A new attempt starts with none of them.
   * Bad input rejects with a `ValidationError` (`VALIDATION_ERROR` or `PAYLOAD_TOO_LARGE`) and
   * writes nothing. Calls closer together than `progressThrottleMs` are coalesced: the promise
   * resolves once a write that includes this value (or a later one) has happened.
   */
  setProgress(progress: number, options?: SetProgressOptions): Promise<void>;
  /**
   * Appends `chunk` (a string or a JSON value, at most 64 KiB as JSON) to one of the job's output
   * streams (`options.stream`, default `'output'`): numbered from 0 in order, shown live to the job's
   * user (`job.output`) and kept as long as the job. Calls within `outputFlushMs` are written together;
   * the promise resolves once the chunk is written or held for the next write (pending output is
   * written before the attempt ends). A retried attempt appends after what earlier attempts wrote.
   * Rejects, storing nothing, on bad input (`VALIDATION_ERROR`, `PAYLOAD_TOO_LARGE`) and past the
   * job's `maxOutputBytes` / `maxOutputChunks` (`OUTPUT_LIMIT_EXCEEDED`, then for every later chunk).
   */
  appendOutput(chunk: unknown, options?: AppendOutputOptions): Promise<void>;
};

/** The function a user writes: a BullMQ processor whose job has `setProgress`. */
export type SeennProcessorFunction<Data = any, Result = any, Name extends string = string> = (
  job: SeennWorkerJob<Data, Result, Name>,
  token: string | undefined,
  signal: AbortSignal | undefined,
) => Promise<Result>;

/** What `seenn.processor` returns: a BullMQ processor (its `length` is 3, so BullMQ passes an `AbortSignal`). */
export type SeennProcessor<Data = any, Result = any, Name extends string = string> = (
  job: Job<Data, Result, Name>,
  token?: string,
  signal?: AbortSignal,
) => Promise<Result>;
/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * Wraps `fn` as a BullMQ processor (see {@link SeennWorkerJob} for `setProgress`). `token` and
 * `signal` reach `fn` as BullMQ passed them; `fn`'s return value is returned untouched after pending
 * progress is written. A thrown error is rethrown as the same object after one last payload with
 * `error: { code, message }` ({@link jobErrorOf}: a generic message unless the error is marked
 * `expose: true`; the full error of an unmarked one is logged at `warn`), except BullMQ's
 * control-flow errors, which pass through with nothing added. Options are validated here (`CONFIG_INVALID`).
 */
export function createProcessor<Data = unknown, Result = unknown, Name extends string = string>(
  fn: SeennProcessorFunction<Data, Result, Name>,
  options: ProcessorOptions | undefined,
  logger: Logger,
  cancels?: CancelWatch,
  output?: WorkerOutput,
): SeennProcessor<Data, Result, Name> {
  if (typeof fn !== 'function')
    throw new ValidationError(
      'CONFIG_INVALID',
      'seenn.processor expects a function (job, token, signal) => Promise<result>',
    );
  const { progressThrottleMs } = resolveProcessorOptions(options);
  // Three written-out parameters: BullMQ only creates the AbortController when `processor.length >= 3`.
  return async function seennProcessor(
    job: Job<Data, Result, Name>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<Result> {
    const run = new AttemptProgress(job, progressThrottleMs, logger);
    const writer = output === undefined ? undefined : attemptOutput(job, output, logger);
    const seennJob = withSetProgress(job, run, writer);
    const cancel = await watchCancel(job, cancels);
    let result: Result;
    try {
      result = await fn(seennJob, token, signal);
    } catch (error) {
      // Output goes out before the attempt's outcome, so a job shows its whole output once it ends.
      await writer
        ?.flush()
        .catch((writeError: unknown) =>
          logger.warn({ err: writeError, jobId: job.id }, 'could not write the last output of an attempt'),
        );
      // The last attempt (BullMQ will not retry it): the job ends, and its output takes its retention.
      if (cancel.requested || error instanceof UnrecoverableError || job.attemptsStarted >= (job.opts.attempts ?? 1))
        await finishOutput(writer, output, logger, job);
      if (cancel.requested) {
        // Cancelled through Seenn: the job already shows `cancelled`; BullMQ must not run it again.
        await run
          .flush()
          .catch((writeError: unknown) =>
            logger.warn({ err: writeError, jobId: job.id }, 'could not write the last progress of a cancelled attempt'),
          );
        throw new UnrecoverableError(cancel.reason === '' ? 'Cancelled' : `Cancelled: ${cancel.reason}`);
      }
      if (isControlFlowError(error)) {
        await run
          .flush()
          .catch((writeError: unknown) =>
            logger.warn(
              { err: writeError, jobId: job.id },
              'could not write the last progress before a BullMQ control-flow error',
            ),
          );
      } else {
        const reported = jobErrorOf(error);
        if (!isUserFacingError(error))
          logger.warn(
            { err: error, jobId: job.id, attempt: job.attemptsStarted, shown: reported },
            'a job attempt failed; its user sees a generic message, the error is here',
          );
        await run
          .flush(reported)
          .catch((writeError: unknown) =>
            logger.warn(
              { err: writeError, jobId: job.id, error: reported },
              'could not write the error payload of a failed attempt',
            ),
          );
      }
      throw error;
    } finally {
      cancel.stop();
    }
    await writer
      ?.flush()
      .catch((writeError: unknown) =>
        logger.warn({ err: writeError, jobId: job.id }, 'could not write the last output of an attempt'),
      );
    await finishOutput(writer, output, logger, job);
    await run
      .flush()
      .catch((writeError: unknown) =>
        logger.warn({ err: writeError, jobId: job.id }, 'could not write the last progress of a finished attempt'),
      );
    return result;
  };
}

/**
 * Where cancel requests for running jobs come from (the Seenn instance's cancel listener): `watch`
 * calls `abort(reason)` when a cancel for this BullMQ job arrives (or is already waiting), and
 * resolves to the function that stops watching.
 */
export interface CancelWatch {
  watch(queueName: string, bullId: string, abort: (reason: string) => void): Promise<() => void>;
}

/** BullMQ's `Worker` as a job running in it sees it (`job.queue` is the worker). */
interface CancellingWorker {
  cancelJob(jobId: string, reason?: string): boolean;
}

/** One attempt's cancel state. */
interface AttemptCancel {
  requested: boolean;
  reason: string;
  stop: () => void;
}

/**
 * Watches for a Seenn cancel of this attempt: when one arrives, BullMQ's own `worker.cancelJob(id,
 * reason)` fires the processor's `AbortSignal`.
 */
async function watchCancel(job: Job, cancels: CancelWatch | undefined): Promise<AttemptCancel> {
  const state: AttemptCancel = { requested: false, reason: '', stop: () => undefined };
  // `queue` is protected in BullMQ's typings; for a job a Worker runs it is that Worker.
  const worker = (job as unknown as { queue?: Partial<CancellingWorker> }).queue;
  const jobId = job.id;
  if (cancels === undefined || jobId === undefined || typeof worker?.cancelJob !== 'function') return state;
  const cancelJob = worker.cancelJob.bind(worker);
  state.stop = await cancels.watch(job.queueName, jobId, (reason) => {
    state.requested = true;
    state.reason = reason;
    cancelJob(jobId, reason === '' ? 'cancelled' : reason);
  });
  return state;
}

/** One attempt's progress: the last accepted payload and the throttled writer that sends it. */
class AttemptProgress {
  private last: ProgressPayload;
  private readonly writer: CoalescingWriter<ProgressPayload>;

  constructor(job: Job, throttleMs: number, logger: Logger) {
    this.last = { [PROGRESS_MARKER]: 1, attempt: job.attemptsStarted, progress: 0 };
    this.writer = new CoalescingWriter(
      (payload) => job.updateProgress(payload),
      throttleMs,
      (error) =>
        logger.warn({ err: error, jobId: job.id }, 'a coalesced progress write failed; the final flush retries it'),
    );
  }

  /** Validates, then queues a write; rejects without writing on bad input. */
  async set(progress: unknown, options: unknown): Promise<void> {
    const { metadata, ...update } = parseSetProgress(progress, options, parseOrThrow);
    // Seenn's update semantics: what is left out stays as the last call set it; metadata is merged.
    const payload: ProgressPayload = { ...this.last, ...update };
    if (metadata !== undefined) payload.metadata = mergeMetadata(this.last.metadata, metadata);
    this.last = payload;
    return this.writer.write(payload);
  }

  /** Writes what is pending now; with `error`, writes the last payload plus that error. */
  flush(error?: ProgressPayload['error']): Promise<void> {
    return error === undefined ? this.writer.flush() : this.writer.flush({ value: { ...this.last, error } });
  }
}

/**
 * Adds non-enumerable `setProgress` and `appendOutput` to the BullMQ job (so `job.asJSON()` is
 * unchanged). Without output services, `appendOutput` rejects with `CONFIG_INVALID`.
 */
function withSetProgress<Data, Result, Name extends string>(
  job: Job<Data, Result, Name>,
  run: AttemptProgress,
  writer: OutputWriter | undefined,
): SeennWorkerJob<Data, Result, Name> {
  const methods = {
    setProgress: (progress: number, options?: SetProgressOptions) => run.set(progress, options),
    appendOutput: (chunk: unknown, options?: AppendOutputOptions) =>
      writer === undefined
        ? Promise.reject(new SeennError('CONFIG_INVALID', 'appendOutput needs a processor made by seenn.processor()'))
        : writer.append(chunk, options),
  };
  for (const [name, value] of Object.entries(methods))
    Object.defineProperty(job, name, { value, configurable: true, enumerable: false, writable: true });
  return job as SeennWorkerJob<Data, Result, Name>;
}

/** What a processor needs to write output: the output services and the owner index. */
export interface WorkerOutput extends OutputServices {
  /** The user who owns a Seenn job id, or `null`. */
  ownerOf(jobId: string): Promise<string | null>;
  /** How long a finished job stays readable (`retention.finishedJobSeconds`). */
  finishedJobSeconds: number;
}

/**
 * The output of an attempt that ends its job successfully gets the finished job's TTL plus this
 * margin: the snapshot takes `finishedJobSeconds` a moment later, when the publisher applies the
 * completion, and the output must not expire before it (it is served only while the snapshot exists).
 */
const FINISHED_OUTPUT_MARGIN_SECONDS = 3_600;

/** Gives the output of an attempt that ends its job the finished job's TTL (plus the margin); failures are logged. */
async function finishOutput(
  writer: OutputWriter | undefined,
  output: WorkerOutput | undefined,
  logger: Logger,
  job: Job,
): Promise<void> {
  if (writer === undefined || output === undefined) return;
  await writer
    .expire((output.finishedJobSeconds + FINISHED_OUTPUT_MARGIN_SECONDS) * 1000)
    .catch((error: unknown) =>
      logger.warn({ err: error, jobId: job.id }, 'could not give the output of a finished job its TTL'),
    );
}

/** The shape of a ULID: a BullMQ id that may be the Seenn id itself (`seenn.jobs.start`). */
const ULID_SHAPE = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * The output writer of one attempt. The job's Seenn id and user are found on its first write, as the
 * publisher finds them: the BullMQ id when `seenn.jobs.start` made the job (its owner is recorded
 * before the job is added), else the id derived from the queue and BullMQ id, once the publisher has
 * claimed it (`NOT_FOUND` until then: the chunks stay held and the next write tries again).
 */
function attemptOutput(job: Job, output: WorkerOutput, logger: Logger): OutputWriter {
  const resolve = async (): Promise<OutputTarget> => {
    const bullId = job.id ?? '';
    const candidates = [derivedJobId(job.queueName, bullId)];
    if (ULID_SHAPE.test(bullId)) candidates.unshift(bullId);
    // One GET per owner key: they live in different cluster slots.
    const owners = await Promise.all(candidates.map((id) => output.ownerOf(id)));
    for (const [i, userId] of owners.entries()) if (userId !== null) return { userId, jobId: candidates[i] as string };
    throw new SeennError(
      'NOT_FOUND',
      'the job has no Seenn owner yet (a plain queue.add job is tracked once the publisher has seen it)',
      { details: { queue: job.queueName, bullJobId: bullId } },
    );
  };
  return new OutputWriter(output, resolve, (error) =>
    logger.warn({ err: error, jobId: job.id }, 'a held output write failed; the next write retries it'),
  );
}
