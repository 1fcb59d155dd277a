import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HIDDEN_FAILURE_MESSAGE,
  isSeennError,
  Seenn,
  SeennUserError,
  ValidationError,
  type ProgressPayload,
  type SeennProcessor,
  type SeennProcessorFunction,
} from '../../src/index.js';
import { parseProgressValue } from '../../src/model/progress.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const prefix = uniquePrefix('wrk');
let redis: Redis;
let seenn: Seenn;
const closers: (() => Promise<void>)[] = [];

beforeAll(() => {
  redis = connect();
  seenn = new Seenn({ connection: redis, prefix });
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await seenn.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** A fresh queue with a Worker running `processor` on it (both closed in `afterAll`). */
function start<Data, Result>(
  processor:
    SeennProcessor<Data, Result> | ((job: Job<Data, Result>, token?: string, signal?: AbortSignal) => Promise<Result>),
) {
  const name = uniquePrefix('q');
  const queue = new Queue(name, { connection: redis, prefix });
  const worker = new Worker<Data, Result>(name, processor, { connection: redis, prefix, concurrency: 4 });
  worker.on('error', () => undefined);
  closers.push(
    () => queue.close(),
    () => worker.close(),
  );
  return { name, queue, worker };
}

/** Waits until BullMQ finished the job (completed or failed for good) and returns it as stored. */
async function finished(queue: Queue, id: string): Promise<Job> {
  await waitFor(async () => ['completed', 'failed'].includes(await queue.getJobState(id)), {
    what: `job ${id} to finish`,
  });
  const job = await queue.getJob(id);
  if (job === undefined) throw new Error(`job ${id} vanished`);
  return job;
}

/** The progress values BullMQ's events stream holds for one job, oldest first. */
async function progressEntries(queueName: string, jobId: string): Promise<unknown[]> {
  const entries = await redis.xrange(`${prefix}:${queueName}:events`, '-', '+');
  const values: unknown[] = [];
  for (const [, fields] of entries) {
    const map = new Map<string, string>();
    for (let i = 0; i < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string);
    if (map.get('event') === 'progress' && map.get('jobId') === jobId)
      values.push(JSON.parse(map.get('data') ?? 'null'));
  }
  return values;
}

/** A promise with its resolve function. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('seenn.processor', () => {
  it('is a three-parameter BullMQ processor and validates its options', () => {
    const processor = seenn.processor(async () => 'ok');
    expect(processor.length).toBe(3);
    expect(seenn.processor(async () => 'ok', { progressThrottleMs: 0 }).length).toBe(3);
    for (const options of [
      { progressThrottleMs: -1 },
      { progressThrottleMs: 1.5 },
      { progressThrottleMs: 120_000 },
      { throttle: 10 },
    ]) {
      try {
        seenn.processor(async () => 'ok', options as never);
        expect.unreachable('bad options must throw');
      } catch (error) {
        expect(isSeennError(error) && error.code).toBe('CONFIG_INVALID');
      }
    }
    expect(() => seenn.processor('not a function' as never)).toThrow(ValidationError);
  });

  it('passes the token and the AbortSignal through; worker.cancelJob aborts the signal', async () => {
    const entered = deferred<{ token: string | undefined; signal: AbortSignal | undefined; id: string }>();
    const fn: SeennProcessorFunction<{ n: number }, string> = async (job, token, signal) => {
      entered.resolve({ token, signal, id: job.id ?? '' });
      await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
      throw Object.assign(new UnrecoverableError(`cancelled: ${String(signal?.reason)}`), { expose: true });
    };
    const { name, queue, worker } = start(seenn.processor(fn));
    const added = await queue.add('t', { n: 1 });
    const seen = await entered.promise;
    expect(seen.id).toBe(added.id);
    expect(typeof seen.token).toBe('string');
    expect(await redis.get(`${prefix}:${name}:${added.id}:lock`)).toBe(seen.token);
    expect(seen.signal).toBeInstanceOf(AbortSignal);
    expect(seen.signal?.aborted).toBe(false);

    expect(worker.cancelJob(added.id ?? '', 'user asked')).toBe(true);
    const job = await finished(queue, added.id ?? '');
    expect(seen.signal?.aborted).toBe(true);
    expect(seen.signal?.reason).toBe('user asked');
    expect(job.failedReason).toBe('cancelled: user asked');
    expect(job.progress).toEqual({
      seenn: 1,
      attempt: 1,
      progress: 0,
      error: { code: 'UNRECOVERABLE', message: 'cancelled: user asked' },
    });
  });

  it('stores setProgress as one payload in BullMQ and returns the result untouched', async () => {
    const eta = new Date(Date.now() + 90_000);
    const { name, queue } = start(
      seenn.processor(async (job) => {
        expect(Object.keys(job)).not.toContain('setProgress');
        await job.setProgress(33.4, {
          message: 'Rendering',
          stage: { name: 'render', current: 2, total: 3, description: 'frames' },
          queue: { position: 1, total: 4 },
          estimatedCompletionAt: eta,
          metadata: { fps: 30 },
        });
        return { url: 'https://cdn.example/v.mp4', sizes: [1, 2] };
      }),
    );
    const added = await queue.add('t', {});
    const job = await finished(queue, added.id ?? '');
    const expected: ProgressPayload = {
      seenn: 1,
      attempt: 1,
      progress: 33,
      message: 'Rendering',
      stage: { name: 'render', current: 2, total: 3, description: 'frames' },
      queue: { position: 1, total: 4 },
      estimatedCompletionAt: eta.toISOString(),
      metadata: { fps: 30 },
    };
    expect(job.progress).toEqual(expected);
    expect(job.returnvalue).toEqual({ url: 'https://cdn.example/v.mp4', sizes: [1, 2] });
    expect(await progressEntries(name, added.id ?? '')).toEqual([expected]);
    expect(parseProgressValue(job.progress)).toEqual(expected);
  });

  it("keeps what a call leaves out and merges metadata (Seenn's update semantics), size-checked once merged", async () => {
    const refusals: unknown[] = [];
    const { queue } = start(
      seenn.processor(async (job) => {
        await job.setProgress(10, {
          message: 'Reading',
          stage: { name: 'read', current: 1, total: 2 },
          metadata: { a: 1, pad: 'x'.repeat(6_000) },
        });
        await job.setProgress(20, { metadata: { b: 2 } });
        await job
          .setProgress(30, { metadata: { more: 'y'.repeat(6_000) } })
          .catch((error: unknown) => refusals.push((error as { code?: unknown }).code));
        return null;
      }),
    );
    const added = await queue.add('t', {});
    const job = await finished(queue, added.id ?? '');
    expect(refusals).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(job.progress).toEqual({
      seenn: 1,
      attempt: 1,
      progress: 20,
      message: 'Reading',
      stage: { name: 'read', current: 1, total: 2 },
      metadata: { a: 1, pad: 'x'.repeat(6_000), b: 2 },
    });
  });

  it('coalesces a burst of 50 calls into far fewer writes and never drops the last value', async () => {
    const settled: Promise<void>[] = [];
    const { name, queue } = start(
      seenn.processor(async (job) => {
        for (let i = 1; i <= 50; i += 1) settled.push(job.setProgress(i * 2, { message: `step ${i}` }));
        return 'done';
      }),
    );
    const added = await queue.add('t', {});
    const job = await finished(queue, added.id ?? '');
    expect(job.returnvalue).toBe('done');
    await Promise.all(settled);
    const values = (await progressEntries(name, added.id ?? '')) as ProgressPayload[];
    expect(values.length).toBeGreaterThanOrEqual(2);
    expect(values.length).toBeLessThanOrEqual(5);
    expect(values[0]).toMatchObject({ progress: 2, message: 'step 1' });
    expect(values[values.length - 1]).toEqual({ seenn: 1, attempt: 1, progress: 100, message: 'step 50' });
    expect(job.progress).toEqual({ seenn: 1, attempt: 1, progress: 100, message: 'step 50' });
  });

  it('coalesces calls spread over time to about one write per progressThrottleMs', async () => {
    const { name, queue } = start(
      seenn.processor(
        async (job) => {
          const settled: Promise<void>[] = [];
          const started = Date.now();
          // Paces the calls (this is the load, not a wait for a condition): 50 calls over at least 150 ms.
          for (let i = 1; i <= 50; i += 1) {
            settled.push(job.setProgress(i * 2));
            await new Promise((resolve) => setTimeout(resolve, 3));
          }
          await Promise.all(settled);
          return Date.now() - started;
        },
        { progressThrottleMs: 100 },
      ),
    );
    const added = await queue.add('t', {});
    const job = await finished(queue, added.id ?? '');
    const elapsedMs = job.returnvalue as number;
    const values = (await progressEntries(name, added.id ?? '')) as ProgressPayload[];
    // At most one write per started window of 100 ms, plus the last one.
    expect(values.length).toBeLessThanOrEqual(Math.ceil(elapsedMs / 100) + 2);
    expect(values.length).toBeLessThan(50);
    expect(values[0]?.progress).toBe(2);
    expect(values[values.length - 1]?.progress).toBe(100);
  });

  it('rejects bad setProgress input with a coded error and writes nothing', async () => {
    const { name, queue } = start(
      seenn.processor(async (job) => {
        const attempts: [string, Promise<void>][] = [
          ['NaN', job.setProgress(Number.NaN)],
          ['-1', job.setProgress(-1)],
          ['101', job.setProgress(101)],
          ['Infinity', job.setProgress(Number.POSITIVE_INFINITY)],
          ['string', job.setProgress('50' as never)],
          ['stage', job.setProgress(50, { stage: { name: 's', current: 3, total: 2 } })],
          ['stage zero', job.setProgress(50, { stage: { name: 's', current: 0, total: 2 } })],
          ['metadata', job.setProgress(50, { metadata: { blob: 'x'.repeat(11 * 1024) } })],
          ['message', job.setProgress(50, { message: 'm'.repeat(1_001) })],
          ['eta', job.setProgress(50, { estimatedCompletionAt: 'tomorrow' })],
          ['unknown option', job.setProgress(50, { colour: 'red' } as never)],
        ];
        const codes: Record<string, string> = {};
        for (const [label, attempt] of attempts) {
          try {
            await attempt;
            codes[label] = 'resolved';
          } catch (error) {
            codes[label] = error instanceof ValidationError ? error.code : `not a ValidationError: ${String(error)}`;
          }
        }
        return codes;
      }),
    );
    const added = await queue.add('t', {});
    const job = await finished(queue, added.id ?? '');
    expect(job.returnvalue).toEqual({
      NaN: 'VALIDATION_ERROR',
      '-1': 'VALIDATION_ERROR',
      '101': 'VALIDATION_ERROR',
      Infinity: 'VALIDATION_ERROR',
      string: 'VALIDATION_ERROR',
      stage: 'VALIDATION_ERROR',
      'stage zero': 'VALIDATION_ERROR',
      metadata: 'PAYLOAD_TOO_LARGE',
      message: 'VALIDATION_ERROR',
      eta: 'VALIDATION_ERROR',
      'unknown option': 'VALIDATION_ERROR',
    });
    expect(await progressEntries(name, added.id ?? '')).toEqual([]);
    expect(job.progress).toBe(0);
  });

  it('turns a thrown error into the last payload plus { code, message } and rethrows the same object', async () => {
    const logged: Record<string, unknown>[] = [];
    const log = (facts: Record<string, unknown>): void => void logged.push(facts);
    const logger = { debug: log, info: log, warn: log, error: log, child: () => logger };
    const logging = new Seenn({ connection: redis, prefix, logger });
    closers.push(() => logging.close());
    const thrown = new Map<string, unknown>();
    const stage = { name: 'analysis', current: 1, total: 3 };
    const secret = 'connect to postgres://admin:s3cret@db.internal:5432/app failed';
    const { name, queue, worker } = start(
      logging.processor<{ kind: string }>(async (job) => {
        await job.setProgress(40, { message: 'half way', stage });
        const error =
          job.data.kind === 'for-users'
            ? new SeennUserError('QUOTA_EXCEEDED', 'over quota')
            : job.data.kind === 'string-code'
              ? Object.assign(new Error(secret), { code: 'ECONNREFUSED' })
              : job.data.kind === 'unrecoverable'
                ? new UnrecoverableError(secret)
                : new Error(secret);
        thrown.set(job.id ?? '', error);
        throw error;
      }),
    );
    const failedErrors = new Map<string, Error>();
    worker.on('failed', (job, error) => failedErrors.set(job?.id ?? '', error));
    const cases = [
      { kind: 'for-users', code: 'QUOTA_EXCEEDED', message: 'over quota', full: 'over quota' },
      { kind: 'string-code', code: 'JOB_FAILED', message: HIDDEN_FAILURE_MESSAGE, full: secret },
      { kind: 'unrecoverable', code: 'UNRECOVERABLE', message: HIDDEN_FAILURE_MESSAGE, full: secret },
      { kind: 'plain', code: 'JOB_FAILED', message: HIDDEN_FAILURE_MESSAGE, full: secret },
    ];
    for (const { kind, code, message, full } of cases) {
      const added = await queue.add('t', { kind });
      const id = added.id ?? '';
      const job = await finished(queue, id);
      expect(await queue.getJobState(id)).toBe('failed');
      // BullMQ keeps the full message for operators (the admin view shows failedReason).
      expect(job.failedReason).toBe(full);
      const last = { seenn: 1, attempt: 1, progress: 40, message: 'half way', stage, error: { code, message } };
      expect(job.progress).toEqual(last);
      const values = await progressEntries(name, id);
      expect(values[values.length - 1]).toEqual(last);
      await waitFor(() => failedErrors.has(id), { what: `the failed event of ${id}` });
      expect(failedErrors.get(id)).toBe(thrown.get(id));
      // A hidden error is logged whole; one meant for users is not logged as hidden.
      const line = logged.find((facts) => facts['jobId'] === id && facts['err'] !== undefined);
      if (kind === 'for-users') expect(line).toBeUndefined();
      else expect(line?.['err']).toBe(thrown.get(id));
    }
  });

  it('lets DelayedError through untouched, with no error payload', async () => {
    const outcomes: unknown[] = [];
    const thrown: unknown[] = [];
    const wrapped = seenn.processor(async (job, token) => {
      await job.setProgress(10, { message: 'waiting for a slot' });
      await job.moveToDelayed(Date.now() + 60_000, token);
      const error = new DelayedError();
      thrown.push(error);
      throw error;
    });
    // Observes what the wrapped processor answered BullMQ with (three parameters, like BullMQ needs).
    const observed = (job: Job, token?: string, signal?: AbortSignal): Promise<unknown> =>
      wrapped(job, token, signal).then(
        (value) => {
          outcomes.push({ value });
          return value;
        },
        (error: unknown) => {
          outcomes.push({ error });
          throw error;
        },
      );
    const { name, queue } = start(observed);
    const added = await queue.add('t', {});
    const id = added.id ?? '';
    await waitFor(() => outcomes.length === 1, { what: 'the processor to settle' });
    expect(outcomes[0]).toEqual({ error: thrown[0] });
    expect((outcomes[0] as { error: unknown }).error).toBe(thrown[0]);
    expect(await queue.getJobState(id)).toBe('delayed');
    const values = (await progressEntries(name, id)) as ProgressPayload[];
    expect(values).toEqual([{ seenn: 1, attempt: 1, progress: 10, message: 'waiting for a slot' }]);
    expect((await queue.getJob(id))?.progress).toEqual(values[0]);
  });

  it("writes each attempt's payloads with that attempt's number", async () => {
    const { name, queue } = start(
      seenn.processor(async (job) => {
        await job.setProgress(10, { message: `attempt ${job.attemptsStarted}` });
        if (job.attemptsStarted === 1) throw new SeennUserError('FLAKY', 'first try fails');
        await job.setProgress(60);
        return 'ok';
      }),
    );
    const added = await queue.add('t', {}, { attempts: 2 });
    const id = added.id ?? '';
    const job = await finished(queue, id);
    expect(await queue.getJobState(id)).toBe('completed');
    expect(job.attemptsStarted).toBe(2);
    expect(await progressEntries(name, id)).toEqual([
      { seenn: 1, attempt: 1, progress: 10, message: 'attempt 1' },
      {
        seenn: 1,
        attempt: 1,
        progress: 10,
        message: 'attempt 1',
        error: { code: 'FLAKY', message: 'first try fails' },
      },
      { seenn: 1, attempt: 2, progress: 10, message: 'attempt 2' },
      // Seenn's update semantics: the message stays when a call leaves it out (within one attempt).
      { seenn: 1, attempt: 2, progress: 60, message: 'attempt 2' },
    ]);
    expect(job.progress).toEqual({ seenn: 1, attempt: 2, progress: 60, message: 'attempt 2' });
  });
});
