/**
 * Writing job output (`appendOutput`) from a wrapped processor and from a handle: ordered, numbered
 * from 0, coalesced without loss, bounded with a coded error, kept as long as the snapshot and never in
 * the user's replay stream; a retried attempt appends after the earlier attempt's output.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SeennError } from '../../src/errors.js';
import { derivedJobId } from '../../src/model/ids.js';
import type { OutputStore } from '../../src/store/output-store.js';
import { OutputWriter } from '../../src/worker/output-writer.js';
import { Seenn } from '../../src/seenn.js';
import { uniquePrefix } from '../helpers/redis.js';
import { codeOf, openTwoProcessBed, type TwoProcessBed } from '../helpers/seenn-bed.js';
import { waitFor } from '../helpers/wait.js';

const prefix = uniquePrefix('output');
const QUEUE = 'oq';
let redis: Redis;
let workerRedis: Redis;
let seenn: Seenn;
let workerSeenn: Seenn;
let queue: Queue;

let bed: TwoProcessBed;

beforeAll(() => {
  bed = openTwoProcessBed(prefix, QUEUE, { output: { maxOutputBytes: 200, maxOutputChunks: 50 } });
  ({ redis, workerRedis, seenn, workerSeenn, queue } = bed);
});

afterAll(() => bed.close());

/** Every chunk of one stream, parsed. */
async function chunksOf(userId: string, jobId: string, stream = 'output'): Promise<unknown[]> {
  const page = await seenn.context.output.read(userId, jobId, stream, -1, 10_000);
  return page.chunks.map((json) => JSON.parse(json) as unknown);
}

describe('appendOutput on a handle', () => {
  it('numbers chunks from 0 in call order, per stream, strings and JSON values alike', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'gen', title: 'Story' });
    await Promise.all([
      job.appendOutput('Once'),
      job.appendOutput(' upon'),
      job.appendOutput({ frame: 1 }, { stream: 'preview' }),
      job.appendOutput(' a time'),
    ]);
    await job.complete();
    expect(await chunksOf('ann', job.id)).toEqual(['Once', ' upon', ' a time']);
    expect(await chunksOf('ann', job.id, 'preview')).toEqual([{ frame: 1 }]);
  });

  it('coalesces calls within outputFlushMs into fewer Redis writes, dropping and reordering nothing', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'gen', title: 'Tokens' });
    const append = vi.spyOn(seenn.context.output, 'append');
    try {
      for (let i = 0; i < 40; i += 1) await job.appendOutput(i);
      await job.complete();
      expect(await chunksOf('ann', job.id)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      // The first call writes at once; the 39 after it, made within one window, go together.
      expect(append.mock.calls.length).toBeLessThan(5);
    } finally {
      append.mockRestore();
    }
  });

  it('refuses a chunk past maxOutputChunks with OUTPUT_LIMIT_EXCEEDED, and every later one', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'gen', title: 'Many' });
    for (let i = 0; i < 50; i += 1) await job.appendOutput('x');
    expect(await codeOf(job.appendOutput('y'))).toBe('OUTPUT_LIMIT_EXCEEDED');
    expect(await codeOf(job.appendOutput('z'))).toBe('OUTPUT_LIMIT_EXCEEDED');
    // The job can still end: refusals went to the callers.
    expect((await job.complete()).status).toBe('completed');
    expect(await chunksOf('ann', job.id)).toHaveLength(50);
  });

  it('refuses a chunk past maxOutputBytes (counted as JSON over all streams), even from another writer', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'gen', title: 'Big' });
    await job.appendOutput('a'.repeat(90));
    await job.appendOutput('b'.repeat(90), { stream: 'log' });
    await waitFor(async () => (await chunksOf('ann', job.id, 'log')).length === 1, {
      what: 'the held chunk to be written',
    });
    // 92 + 92 bytes stored: 16 left. This handle knows it and refuses at once.
    expect(await codeOf(job.appendOutput('c'.repeat(20)))).toBe('OUTPUT_LIMIT_EXCEEDED');
    // Another handle (another process) knows nothing: the store refuses, and the handle stops there.
    const other = seenn.jobs.handle(job.id);
    await expect(other.appendOutput('d'.repeat(20))).rejects.toMatchObject({
      code: 'OUTPUT_LIMIT_EXCEEDED',
      details: { maxOutputBytes: 200 },
    });
    expect(await codeOf(other.appendOutput('e'))).toBe('OUTPUT_LIMIT_EXCEEDED');
    // A third writer's small chunk still fits (the bound is on bytes stored, not on refusals elsewhere).
    await seenn.jobs.handle(job.id).appendOutput('f'.repeat(10));
    expect(await chunksOf('ann', job.id)).toEqual(['a'.repeat(90), 'f'.repeat(10)]);
    expect(await chunksOf('ann', job.id, 'log')).toEqual(['b'.repeat(90)]);
  });

  it('keeps chunks whose write failed, ahead of newer ones, and writes each once when Redis answers again', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'gen', title: 'Flaky Redis' });
    const real = seenn.context.output;
    let failures = 2;
    const deferred: unknown[] = [];
    // The real store, except that its first two appends fail as a dropped connection would.
    const flaky = {
      append: (...args: Parameters<OutputStore['append']>) =>
        failures-- > 0 ? Promise.reject(new Error('connection lost')) : real.append(...args),
      expire: (...args: Parameters<OutputStore['expire']>) => real.expire(...args),
    } as unknown as OutputStore;
    const writer = new OutputWriter(
      { store: flaky, options: { maxOutputBytes: 1_000, maxOutputChunks: 100, outputFlushMs: 20 } },
      () => Promise.resolve({ userId: 'ann', jobId: job.id }),
      (error) => deferred.push(error),
    );
    // None of these calls rejects: a failed write keeps its chunks for the next one.
    for (let i = 0; i < 10; i += 1) await writer.append(i, undefined);
    await waitFor(async () => (await chunksOf('ann', job.id)).length === 10, { what: 'the held chunks to be written' });
    await writer.flush();
    expect(await chunksOf('ann', job.id)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(deferred.length).toBeGreaterThanOrEqual(1);
  });

  it('rejects bad input with a coded error and stores nothing', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'gen', title: 'Bad' });
    expect(await codeOf(job.appendOutput('x', { stream: 'no spaces' }))).toBe('VALIDATION_ERROR');
    expect(await codeOf(job.appendOutput(undefined))).toBe('VALIDATION_ERROR');
    expect(await codeOf(job.appendOutput(() => 1))).toBe('VALIDATION_ERROR');
    expect(await codeOf(job.appendOutput('x'.repeat(70_000)))).toBe('PAYLOAD_TOO_LARGE');
    expect(await codeOf(seenn.jobs.handle('01ARZ3NDEKTSV4RRFFQ69G5FAV').appendOutput('x'))).toBe('NOT_FOUND');
    expect(await chunksOf('ann', job.id)).toEqual([]);
  });

  it('refuses output once the job has finished (CONFLICT)', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'gen', title: 'Done' });
    await job.appendOutput('last words');
    await job.complete();
    expect(await codeOf(job.appendOutput('after'))).toBe('CONFLICT');
    expect(await codeOf(seenn.jobs.handle(job.id).appendOutput('after'))).toBe('CONFLICT');
    expect(await chunksOf('ann', job.id)).toEqual(['last words']);
  });

  it('keeps output as long as the snapshot and out of the replay stream', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'gen', title: 'TTL' });
    const keys = seenn.context.keys;
    const streamLength = await redis.xlen(keys.stream('ann'));
    for (let i = 0; i < 10; i += 1) await job.appendOutput(`line ${i}`);
    await seenn.jobs.handle(job.id).refresh();
    const job2 = seenn.jobs.handle(job.id);
    await job2.setProgress(1);
    expect(await redis.xlen(keys.stream('ann'))).toBe(streamLength + 1);
    const snapshotTtl = await redis.pttl(keys.job('ann', job.id));
    const outputTtl = await redis.pttl(keys.outputStream('ann', job.id, 'output'));
    expect(outputTtl).toBeGreaterThan(0);
    expect(Math.abs(snapshotTtl - outputTtl)).toBeLessThan(5_000);
    // When the job ends, its snapshot's TTL shrinks to finishedJobSeconds, and its output follows.
    await job.appendOutput('log line', { stream: 'log' });
    await job.complete();
    const finishedTtl = await redis.pttl(keys.job('ann', job.id));
    expect(finishedTtl).toBeLessThanOrEqual(seenn.context.options.retention.finishedJobSeconds * 1000);
    for (const key of [
      keys.output('ann', job.id),
      keys.outputStream('ann', job.id, 'output'),
      keys.outputStream('ann', job.id, 'log'),
    ]) {
      expect(Math.abs((await redis.pttl(key)) - finishedTtl), key).toBeLessThan(5_000);
    }
    // A job ended by a cancel (here seenn.jobs.cancel, as the REST route does) takes its output along too.
    const cancelled = await seenn.jobs.start({ userId: 'ann', jobType: 'gen', title: 'Cancelled' });
    await cancelled.appendOutput('before the cancel');
    await seenn.jobs.handle(cancelled.id).refresh();
    await seenn.jobs.cancel(cancelled.id, { reason: 'no longer needed' });
    const cancelledTtl = await redis.pttl(keys.job('ann', cancelled.id));
    expect(cancelledTtl).toBeLessThanOrEqual(seenn.context.options.retention.finishedJobSeconds * 1000);
    expect(Math.abs((await redis.pttl(keys.outputStream('ann', cancelled.id, 'output'))) - cancelledTtl)).toBeLessThan(
      5_000,
    );
    // A Seenn-only parent that completes by itself (its last child completed) takes its output along.
    const { parent, children } = await seenn.jobs.createBatch({
      userId: 'ann',
      jobType: 'gen',
      parentTitle: 'Batch',
      childTitles: ['only'],
    });
    await parent.appendOutput('summary so far');
    await seenn.jobs.handle(parent.id).refresh();
    await (children[0] as (typeof children)[number]).complete();
    expect((await seenn.jobs.get(parent.id))?.status).toBe('completed');
    const parentTtl = await redis.pttl(keys.job('ann', parent.id));
    expect(parentTtl).toBeLessThanOrEqual(seenn.context.options.retention.finishedJobSeconds * 1000);
    expect(Math.abs((await redis.pttl(keys.outputStream('ann', parent.id, 'output'))) - parentTtl)).toBeLessThan(5_000);
    // All of a job's output keys are in its user's slot (the `{tag}` of the snapshot key).
    const tag = (key: string): string => /\{[^}]*\}/.exec(key)?.[0] ?? '';
    expect(tag(keys.output('ann', job.id))).toBe(tag(keys.job('ann', job.id)));
    expect(tag(keys.outputStream('ann', job.id, 'log'))).toBe(tag(keys.job('ann', job.id)));
  });
});

describe('appendOutput in a wrapped processor', () => {
  it("a batch parent that ends when the publisher applies its last child's completion takes its output along", async () => {
    const worker = new Worker(
      QUEUE,
      workerSeenn.processor(async () => ({ ok: true })),
      { connection: workerRedis, prefix },
    );
    const publisher = seenn.publisher({ queues: [QUEUE], blockMs: 100 });
    await publisher.start();
    try {
      const { parent } = await seenn.jobs.createBatch({
        queue: QUEUE,
        userId: 'ann',
        jobType: 'gen',
        parentTitle: 'Batch',
        childTitles: ['a', 'b'],
      });
      await parent.appendOutput('summary');
      await seenn.jobs.handle(parent.id).refresh();
      await waitFor(async () => (await seenn.jobs.get(parent.id))?.status === 'completed', {
        what: 'the parent to complete',
      });
      const keys = seenn.context.keys;
      const parentTtl = await redis.pttl(keys.job('ann', parent.id));
      expect(parentTtl).toBeLessThanOrEqual(seenn.context.options.retention.finishedJobSeconds * 1000);
      await waitFor(
        async () => Math.abs((await redis.pttl(keys.outputStream('ann', parent.id, 'output'))) - parentTtl) < 5_000,
        { what: "the parent's output to take its TTL" },
      );
    } finally {
      await publisher.close();
      await worker.close();
    }
  });

  it('writes every chunk before the job completes, and a retried attempt appends after the failed one', async () => {
    const done = new Map<string, unknown[]>();
    const worker = new Worker(
      QUEUE,
      workerSeenn.processor(async (job) => {
        await job.appendOutput(`attempt ${job.attemptsStarted} starts`);
        for (let i = 0; i < 20; i += 1) await job.appendOutput(i, { stream: 'tokens' });
        if (job.attemptsStarted === 1) throw new Error('flaky');
        return { ok: true };
      }),
      { connection: workerRedis, prefix },
    );
    worker.on('completed', (job) => {
      // At completion the attempt's output is stored already.
      void chunksOf('ann', job.id ?? '').then((chunks) => done.set(job.id ?? '', chunks));
    });
    try {
      const job = await seenn.jobs.start({
        queue: QUEUE,
        userId: 'ann',
        jobType: 'gen',
        title: 'Retried',
        opts: { attempts: 2 },
      });
      const chunks = await waitFor(() => done.get(job.id), { what: 'the job to complete' });
      expect(chunks).toEqual(['attempt 1 starts', 'attempt 2 starts']);
      const tokens = await chunksOf('ann', job.id, 'tokens');
      expect(tokens).toEqual([...Array.from({ length: 20 }, (_, i) => i), ...Array.from({ length: 20 }, (_, i) => i)]);
      // The attempt that finished the job gave its output the finished job's TTL (plus an hour).
      const expected = (workerSeenn.context.options.retention.finishedJobSeconds + 3_600) * 1000;
      const ttl = await redis.pttl(seenn.context.keys.outputStream('ann', job.id, 'tokens'));
      expect(ttl).toBeLessThanOrEqual(expected);
      expect(ttl).toBeGreaterThan(expected - 60_000);
    } finally {
      await worker.close();
    }
  });

  it("gives a job's output the finished TTL when its last attempt fails, and keeps the running TTL while a retry is due", async () => {
    const ttlAfter = new Map<number, number>();
    const worker = new Worker(
      QUEUE,
      workerSeenn.processor(async (job) => {
        await job.appendOutput(`attempt ${job.attemptsStarted}`);
        throw new Error('always fails');
      }),
      { connection: workerRedis, prefix },
    );
    const job = await seenn.jobs.start({
      queue: QUEUE,
      userId: 'ann',
      jobType: 'gen',
      title: 'Fails twice',
      opts: { attempts: 2 },
    });
    const key = seenn.context.keys.outputStream('ann', job.id, 'output');
    worker.on('failed', (failed) => {
      if (failed?.id === job.id) void redis.pttl(key).then((ttl) => ttlAfter.set(failed.attemptsStarted, ttl));
    });
    try {
      await waitFor(() => ttlAfter.size === 2, { what: 'both attempts to fail' });
      const { activeJobSeconds, finishedJobSeconds } = workerSeenn.context.options.retention;
      expect(ttlAfter.get(1)).toBeGreaterThan(activeJobSeconds * 1000 - 60_000);
      expect(ttlAfter.get(2)).toBeLessThanOrEqual((finishedJobSeconds + 3_600) * 1000);
      expect(ttlAfter.get(2)).toBeGreaterThan((finishedJobSeconds + 3_600) * 1000 - 60_000);
      expect(await chunksOf('ann', job.id)).toEqual(['attempt 1', 'attempt 2']);
    } finally {
      await worker.close();
    }
  });

  it('rejects past the bound inside the processor with OUTPUT_LIMIT_EXCEEDED', async () => {
    const limited = new Seenn({ connection: workerRedis, prefix, output: { maxOutputChunks: 3 } });
    const codes: string[] = [];
    const worker = new Worker(
      QUEUE,
      limited.processor(async (job) => {
        for (let i = 0; i < 5; i += 1) {
          try {
            await job.appendOutput(i);
            codes.push('ok');
          } catch (error) {
            codes.push(error instanceof SeennError ? error.code : 'other');
          }
        }
        return {};
      }),
      { connection: workerRedis, prefix },
    );
    try {
      const job = await seenn.jobs.start({ queue: QUEUE, userId: 'ann', jobType: 'gen', title: 'Bounded' });
      await waitFor(async () => (await queue.getJobState(job.id)) === 'completed', { what: 'the job to complete' });
      expect(codes).toEqual(['ok', 'ok', 'ok', 'OUTPUT_LIMIT_EXCEEDED', 'OUTPUT_LIMIT_EXCEEDED']);
      expect(await chunksOf('ann', job.id)).toEqual([0, 1, 2]);
    } finally {
      await worker.close();
      await limited.close();
    }
  });

  it('a plain queue.add job writes output once its owner is known: before that NOT_FOUND, nothing stored', async () => {
    const plainQueue = 'oq-plain';
    const plain = new Queue(plainQueue, { connection: redis, prefix });
    const results: string[] = [];
    let release: () => void = () => undefined;
    const ownerKnown = new Promise<void>((resolve) => {
      release = resolve;
    });
    const attempt = async (job: { appendOutput(chunk: unknown): Promise<void> }, chunk: string): Promise<void> => {
      try {
        await job.appendOutput(chunk);
        results.push('ok');
      } catch (error) {
        results.push(error instanceof SeennError ? error.code : 'other');
      }
    };
    const worker = new Worker(
      plainQueue,
      workerSeenn.processor(async (job) => {
        await attempt(job, 'early');
        await ownerKnown;
        await attempt(job, 'late');
        return {};
      }),
      { connection: workerRedis, prefix },
    );
    try {
      const bullJob = await plain.add('plain', {});
      await waitFor(() => results.length === 1, { what: 'the first append' });
      const seennId = derivedJobId(plainQueue, bullJob.id ?? '');
      // What the publisher does when its describe() names the job's user.
      await seenn.context.store.claimOwner(seennId, 'bob');
      release();
      await waitFor(async () => (await plain.getJobState(bullJob.id ?? '')) === 'completed', {
        what: 'the job to complete',
      });
      expect(results).toEqual(['NOT_FOUND', 'ok']);
      expect(await chunksOf('bob', seennId)).toEqual(['late']);
    } finally {
      await worker.close();
      await plain.close();
    }
  });
});
