/**
 * A test bed for batches: a Seenn over a fresh prefix with publishers reading the batch queues,
 * in-process workers whose jobs the test drives step by step, and reads of a parent's replay entries.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { Seenn, type SeennWorkerJob } from '../../src/index.js';
import type { ChildrenStats, JobStatus, SeennJob } from '../../src/model/job.js';
import type { Publisher } from '../../src/publisher/index.js';
import type { DescribeFn } from '../../src/publisher/options.js';
import type { JobStore } from '../../src/store/job-store.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

/** A replay entry about a parent: its whole object (`job.*`) or a `child.progress` update. */
export interface ParentEntry {
  id: string;
  event: string;
  status: JobStatus;
  progress: number;
  children: ChildrenStats;
}

/** A parent's replay entries (its `job.*` entries and the `child.progress` entries about it), oldest first. */
export async function parentEntries(store: JobStore, userId: string, parentId: string): Promise<ParentEntry[]> {
  const raw = await store.readStream(userId, '0-0', 100_000);
  const entries: ParentEntry[] = [];
  for (const { id, event, data } of raw) {
    const value = JSON.parse(data) as Partial<SeennJob> & { parentJobId?: string };
    const about = event === 'child.progress' ? value.parentJobId : value.id;
    if (about !== parentId) continue;
    entries.push({ id, event, status: value.status as JobStatus, progress: value.progress as number, children: value.children as ChildrenStats });
  }
  return entries;
}

/** What a driven job does next. */
type Step = { kind: 'progress'; value: number } | { kind: 'complete'; result: Record<string, unknown> } | { kind: 'fail'; code: string; message: string };

/** Drives jobs from the test: each job waits for the steps the test gives it. */
export class Driver {
  private readonly steps = new Map<string, { queued: Step[]; wake?: () => void }>();

  /** The processor to wrap with `seenn.processor`. */
  readonly processor = async (job: SeennWorkerJob): Promise<Record<string, unknown>> => {
    const id = job.id as string;
    for (;;) {
      const step = await this.next(id);
      if (step.kind === 'progress') await job.setProgress(step.value);
      else if (step.kind === 'complete') return step.result;
      else throw Object.assign(new Error(step.message), { code: step.code });
    }
  };

  progress(id: string, value: number): void {
    this.push(id, { kind: 'progress', value });
  }

  complete(id: string, result: Record<string, unknown> = { ok: true }): void {
    this.push(id, { kind: 'complete', result });
  }

  /** Makes the job throw an error with this `code` (what users see as the child's `error.code`). */
  fail(id: string, message: string, code = 'DRIVEN_FAILURE'): void {
    this.push(id, { kind: 'fail', code, message });
  }

  private slot(id: string): { queued: Step[]; wake?: () => void } {
    let slot = this.steps.get(id);
    if (slot === undefined) {
      slot = { queued: [] };
      this.steps.set(id, slot);
    }
    return slot;
  }

  private push(id: string, step: Step): void {
    const slot = this.slot(id);
    slot.queued.push(step);
    slot.wake?.();
  }

  private async next(id: string): Promise<Step> {
    const slot = this.slot(id);
    while (slot.queued.length === 0) {
      await new Promise<void>((resolve) => {
        slot.wake = resolve;
      });
      delete slot.wake;
    }
    return slot.queued.shift() as Step;
  }
}

/** A Seenn, its publishers and workers over a fresh prefix. */
export class BatchBed {
  readonly prefix = uniquePrefix('batch');
  readonly redis: Redis = connect();
  readonly seenn = new Seenn({ connection: this.redis, prefix: this.prefix });
  readonly publisher: Publisher;
  private readonly workers: Worker[] = [];
  private readonly queues: Queue[] = [];

  constructor(queues: string[], options: { describe?: DescribeFn } = {}) {
    const publisherOptions = { queues, blockMs: 100, leaseMs: 2_000 };
    this.publisher = this.seenn.publisher(options.describe === undefined ? publisherOptions : { ...publisherOptions, describe: options.describe });
    this.publisher.on('error', (error) => process.stderr.write(`publisher error: ${error.message}\n`));
  }

  async start(): Promise<this> {
    await this.publisher.start();
    return this;
  }

  /** A BullMQ queue of this bed (closed with it). */
  queue(name: string): Queue {
    const queue = new Queue(name, { connection: this.redis, prefix: this.prefix });
    this.queues.push(queue);
    return queue;
  }

  /** A worker running `processor` (wrapped, no progress throttle) on `queue`. */
  worker(queue: string, processor: (job: SeennWorkerJob) => Promise<unknown>, concurrency = 10): Worker {
    const worker = new Worker(queue, this.seenn.processor(processor, { progressThrottleMs: 0 }), { connection: connect(), prefix: this.prefix, concurrency });
    this.workers.push(worker);
    return worker;
  }

  /** A parent's replay entries (see {@link parentEntries}). */
  parentEntries(userId: string, parentId: string): Promise<ParentEntry[]> {
    return parentEntries(this.seenn.context.store, userId, parentId);
  }

  /** Waits until the job satisfies `predicate` (read through `seenn.jobs.get`) and returns it. */
  waitForJob(jobId: string, predicate: (job: SeennJob) => boolean, what = 'job state', timeoutMs = 15_000): Promise<SeennJob> {
    return waitFor(
      async () => {
        const job = await this.seenn.jobs.get(jobId);
        return job !== null && predicate(job) ? job : null;
      },
      { what: `${what} of ${jobId}`, timeoutMs },
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.close(true)));
    await Promise.all(this.queues.map((queue) => queue.close()));
    await this.seenn.close();
    await deletePrefix(this.redis, this.prefix);
    await this.redis.quit();
  }
}

/** Checks a parent's replay entries: progress never down, finished counters never backwards, pending never up, exactly one terminal entry. */
export function expectOrderly(entries: readonly ParentEntry[]): { terminal: ParentEntry } {
  let previous: ParentEntry | undefined;
  const terminal = entries.filter((entry) => entry.event === 'job.completed' || entry.event === 'job.failed' || entry.event === 'job.cancelled');
  if (terminal.length !== 1) throw new Error(`expected exactly one terminal entry, got ${terminal.length}`);
  for (const entry of entries) {
    if (previous !== undefined) {
      if (entry.progress < previous.progress) throw new Error(`progress went down: ${previous.progress} → ${entry.progress} at ${entry.id}`);
      if (entry.children.completed < previous.children.completed) throw new Error(`completed went backwards at ${entry.id}`);
      if (entry.children.failed < previous.children.failed) throw new Error(`failed went backwards at ${entry.id}`);
      if (entry.children.pending > previous.children.pending) throw new Error(`pending went up at ${entry.id}`);
    }
    previous = entry;
  }
  return { terminal: terminal[0] as ParentEntry };
}
