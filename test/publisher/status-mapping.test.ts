/**
 * Each BullMQ path maps to the right Seenn states, through a real publisher reading real BullMQ
 * events: FIFO, priority, delayed, retry with backoff, final failure, UnrecoverableError, removal,
 * and a worker process killed mid-job.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { DelayedError, UnrecoverableError, Worker, type Processor } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HIDDEN_FAILURE_MESSAGE, derivedJobId } from '../../src/index.js';
import { SeennJobSchema, type JobStatus } from '../../src/model/job.js';
import { completionsKey, runsKey } from '../../src/position/index.js';
import { connect } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { Bed } from './harness.js';

const QUEUE = 'mapping';
// Its own queue: workers of the other tests leave a 30 s `stalled-check` key on theirs.
const STALL_QUEUE = 'stalling';
let bed: Bed;
const workers: Worker[] = [];

function worker(
  processor: Processor,
  options: { concurrency?: number; stalledInterval?: number; queue?: string } = {},
): Worker {
  const { queue = QUEUE, ...rest } = options;
  const w = new Worker(queue, processor, { connection: connect(), prefix: bed.prefix, ...rest });
  workers.push(w);
  return w;
}

beforeAll(async () => {
  bed = await new Bed([QUEUE, STALL_QUEUE]).start();
});

// Every test's workers stop before the next test, even when it failed half-way.
afterEach(async () => {
  const stopping = workers.splice(0);
  await Promise.all(stopping.map((w) => w.close(true)));
});

afterAll(async () => {
  await bed.close();
});

/** The statuses of a job's replay entries, in order. */
async function statuses(userId: string, jobId: string): Promise<JobStatus[]> {
  return (await bed.entriesOf(userId, jobId)).map((entry) => entry.job.status);
}

describe('BullMQ → Seenn status mapping', () => {
  it('FIFO: queued, running, completed with the result, each entry a valid job object', async () => {
    const queue = bed.queue(QUEUE);
    const job = await queue.add('render', { userId: 'fifo', title: 'Render' });
    const id = derivedJobId(QUEUE, job.id as string);
    worker(async () => ({ url: 'https://example.test/v.mp4' }));
    const done = await bed.waitForJob(id, (j) => j.status === 'completed');
    expect(done).toMatchObject({
      id,
      jobId: id,
      userId: 'fifo',
      progress: 100,
      result: { url: 'https://example.test/v.mp4' },
    });
    expect(done.startedAt).toBeDefined();
    expect(done.completedAt).toBeDefined();
    const entries = await bed.entriesOf('fifo', id);
    expect(entries.map((e) => [e.event, e.job.status])).toEqual([
      ['job.started', 'queued'],
      ['job.progress', 'running'],
      ['job.completed', 'completed'],
    ]);
    for (const entry of entries) expect(SeennJobSchema.safeParse(entry.job).success).toBe(true);
    // The finished run feeds the ETA history of its workflow and its queue's throughput.
    expect(await bed.redis.lrange(runsKey(bed.seenn.context.keys, QUEUE, 'render'), 0, -1)).toHaveLength(1);
    expect(await bed.redis.lrange(completionsKey(bed.seenn.context.keys, QUEUE), 0, -1)).toEqual([
      String(Date.parse(done.completedAt ?? '')),
    ]);
  });

  it('priority: a prioritized job is queued, runs after plain jobs, and completes', async () => {
    const queue = bed.queue(QUEUE);
    await queue.pause();
    const prioritized = await queue.add('p', { userId: 'prio', title: 'P' }, { priority: 1 });
    const plain = await queue.add('plain', { userId: 'prio', title: 'Plain' });
    const pid = derivedJobId(QUEUE, prioritized.id as string);
    const plainId = derivedJobId(QUEUE, plain.id as string);
    await bed.waitForJob(pid, (j) => j.status === 'queued');
    await bed.waitForJob(plainId, (j) => j.status === 'queued');
    const order: string[] = [];
    worker(async (job) => {
      order.push(job.id as string);
    });
    await queue.resume();
    await bed.waitForJob(pid, (j) => j.status === 'completed');
    expect(order).toEqual([plain.id, prioritized.id]);
    expect(await statuses('prio', pid)).toEqual(['queued', 'running', 'completed']);
  });

  it('delayed: pending until due, then queued, running, completed', async () => {
    const queue = bed.queue(QUEUE);
    worker(async () => 'done');
    const job = await queue.add('later', { userId: 'delay', title: 'Later' }, { delay: 300 });
    const id = derivedJobId(QUEUE, job.id as string);
    const done = await bed.waitForJob(id, (j) => j.status === 'completed');
    expect(done.result).toEqual({ data: { value: 'done' } });
    const seen = await statuses('delay', id);
    expect(seen[0]).toBe('pending');
    expect(seen.slice(-2)).toEqual(['running', 'completed']);
    expect(seen).not.toContain('failed');
  });

  it('retry with backoff: failed attempts show as pending with the attempt count, never failed', async () => {
    const queue = bed.queue(QUEUE);
    worker(async (job) => {
      if (job.attemptsMade < 2) throw new Error(`flaky ${job.attemptsMade}`);
      return { ok: true };
    });
    const job = await queue.add(
      'flaky',
      { userId: 'retry', title: 'Flaky' },
      { attempts: 3, backoff: { type: 'fixed', delay: 50 } },
    );
    const id = derivedJobId(QUEUE, job.id as string);
    await bed.waitForJob(id, (j) => j.status === 'completed');
    const entries = await bed.entriesOf('retry', id);
    // Backoff keeps the job delayed (pending); when due it is queued again, then runs.
    expect(entries.map((e) => e.job.status)).toEqual([
      'queued',
      'running',
      'pending',
      'queued',
      'running',
      'pending',
      'queued',
      'running',
      'completed',
    ]);
    expect(entries.map((e) => e.job.attempt?.current)).toEqual([1, 1, 2, 2, 2, 3, 3, 3, 3]);
    expect(entries.every((e) => e.job.attempt?.max === 3)).toBe(true);
    expect(entries[2]?.job.message).toBe('Attempt 1 did not finish; it will run again');
  });

  it('a step job that delays itself is pending, not a failed attempt', async () => {
    const queue = bed.queue(QUEUE);
    worker(async (job, token) => {
      if ((job.data as { step?: number }).step !== 2) {
        await job.updateData({ ...job.data, step: 2 });
        await job.moveToDelayed(Date.now() + 50, token);
        throw new DelayedError();
      }
      return 'stepped';
    });
    const job = await queue.add('steps', { userId: 'step', title: 'Steps' }, { attempts: 3 });
    const id = derivedJobId(QUEUE, job.id as string);
    await bed.waitForJob(id, (j) => j.status === 'completed');
    const entries = await bed.entriesOf('step', id);
    expect(entries.map((e) => e.job.status)).toEqual([
      'queued',
      'running',
      'pending',
      'queued',
      'running',
      'completed',
    ]);
    const pending = entries[2]?.job;
    expect(pending?.message).toBeUndefined();
    expect(pending?.attempt).toEqual({ current: 1, max: 3 });
  });

  it('final failure: failed once attempts are exhausted, with error {code, message}', async () => {
    const queue = bed.queue(QUEUE);
    worker(async () => {
      throw new Error('disk full');
    });
    const job = await queue.add('doomed', { userId: 'fail', title: 'Doomed' }, { attempts: 2 });
    const id = derivedJobId(QUEUE, job.id as string);
    const failed = await bed.waitForJob(id, (j) => j.status === 'failed');
    // A plain processor's message is BullMQ's failedReason, shown to operators only.
    expect(failed.error).toEqual({ code: 'JOB_FAILED', message: HIDDEN_FAILURE_MESSAGE });
    const seen = await statuses('fail', id);
    expect(seen).toEqual(['queued', 'running', 'queued', 'running', 'failed']);
  });

  it('UnrecoverableError: failed after one attempt despite attempts left', async () => {
    const queue = bed.queue(QUEUE);
    worker(async () => {
      throw new UnrecoverableError('bad input file');
    });
    const job = await queue.add('hopeless', { userId: 'unrec', title: 'Hopeless' }, { attempts: 5 });
    const id = derivedJobId(QUEUE, job.id as string);
    const failed = await bed.waitForJob(id, (j) => j.status === 'failed');
    expect(failed.error?.message).toBe(HIDDEN_FAILURE_MESSAGE);
    expect(await statuses('unrec', id)).toEqual(['queued', 'running', 'failed']);
  });

  it('removal before finishing: cancelled, and final', async () => {
    const queue = bed.queue(QUEUE);
    const job = await queue.add('never', { userId: 'rm', title: 'Never' }, { delay: 60_000 });
    const id = derivedJobId(QUEUE, job.id as string);
    await bed.waitForJob(id, (j) => j.status === 'pending');
    await job.remove();
    const cancelled = await bed.waitForJob(id, (j) => j.status === 'cancelled');
    expect(cancelled.completedAt).toBeDefined();
    expect(await statuses('rm', id)).toEqual(['pending', 'cancelled']);
  });

  it('removeOnComplete: the final state outlives the BullMQ job', async () => {
    const queue = bed.queue(QUEUE);
    const job = await queue.add('ephemeral', { userId: 'roc', title: 'Ephemeral' }, { removeOnComplete: true });
    const id = derivedJobId(QUEUE, job.id as string);
    // A plain job is described from its BullMQ hash, so the publisher must meet it before it vanishes.
    await bed.waitForJob(id, (j) => j.status === 'queued');
    worker(async () => ({ n: 7 }));
    const done = await bed.waitForJob(id, (j) => j.status === 'completed');
    expect(done.result).toEqual({ n: 7 });
    expect(await queue.getJob(job.id as string)).toBeUndefined();
  });

  it('a worker process killed mid-job: the stalled job is queued again, picked up, and completes', async () => {
    const queue = bed.queue(STALL_QUEUE);
    const job = await queue.add('stall', { userId: 'stall', title: 'Stall' });
    const id = derivedJobId(STALL_QUEUE, job.id as string);
    const fixture = fileURLToPath(new URL('./fixtures/stalling-worker.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, STALL_QUEUE, bed.prefix], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    });
    const exited = once(child, 'exit');
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await waitFor(() => out.includes(`active ${job.id}`), {
        what: 'the child worker to take the job',
        timeoutMs: 20_000,
      });
      await bed.waitForJob(id, (j) => j.status === 'running');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // A new worker's stalled-job check finds the dead worker's job once its lock expires.
    worker(async () => 'recovered', { stalledInterval: 300, queue: STALL_QUEUE });
    const done = await bed.waitForJob(id, (j) => j.status === 'completed');
    expect(done.result).toEqual({ data: { value: 'recovered' } });
    expect(await statuses('stall', id)).toEqual(['queued', 'running', 'queued', 'running', 'completed']);
  });
});
