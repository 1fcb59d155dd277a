/**
 * A test bed for batches: a Seenn over a fresh prefix with publishers reading the batch queues,
 * in-process workers whose jobs the test drives step by step, and reads of a parent's replay entries.
 */
import { Worker } from 'bullmq';
import type { SeennWorkerJob } from '../../src/index.js';
import type { ChildrenStats, JobStatus, SeennJob } from '../../src/model/job.js';
import type { DescribeFn } from '../../src/publisher/options.js';
import type { JobStore } from '../../src/store/job-store.js';
import { connect } from '../helpers/redis.js';
import { Bed } from '../publisher/harness.js';

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
    entries.push({
      id,
      event,
      status: value.status as JobStatus,
      progress: value.progress as number,
      children: value.children as ChildrenStats,
    });
  }
  return entries;
}

/** What a driven job does next. */
type Step =
  | { kind: 'progress'; value: number }
  | { kind: 'complete'; result: Record<string, unknown> }
  | { kind: 'fail'; code: string; message: string };

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
      else throw Object.assign(new Error(step.message), { code: step.code, expose: true });
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

/** The publisher tests' bed plus driven workers and a parent's replay entries. */
export class BatchBed extends Bed {
  private readonly workers: Worker[] = [];

  constructor(queues: string[], options: { describe?: DescribeFn } = {}) {
    super(queues, { describe: options.describe ?? null, label: 'batch' });
    this.publisher.on('error', (error) => process.stderr.write(`publisher error: ${error.message}\n`));
  }

  /** A worker running `processor` (wrapped, no progress throttle) on `queue`. */
  worker(queue: string, processor: (job: SeennWorkerJob) => Promise<unknown>, concurrency = 10): Worker {
    const worker = new Worker(queue, this.seenn.processor(processor, { progressThrottleMs: 0 }), {
      connection: connect(),
      prefix: this.prefix,
      concurrency,
    });
    this.workers.push(worker);
    return worker;
  }

  /** A parent's replay entries (see {@link parentEntries}). */
  parentEntries(userId: string, parentId: string): Promise<ParentEntry[]> {
    return parentEntries(this.seenn.context.store, userId, parentId);
  }

  override async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.close(true)));
    await super.close();
  }
}

/** Checks a parent's replay entries: progress never down, finished counters never backwards, pending never up, exactly one terminal entry. */
export function expectOrderly(entries: readonly ParentEntry[]): { terminal: ParentEntry } {
  let previous: ParentEntry | undefined;
  const terminal = entries.filter(
    (entry) => entry.event === 'job.completed' || entry.event === 'job.failed' || entry.event === 'job.cancelled',
  );
  if (terminal.length !== 1) throw new Error(`expected exactly one terminal entry, got ${terminal.length}`);
  for (const entry of entries) {
    if (previous !== undefined) {
      if (entry.progress < previous.progress)
        throw new Error(`progress went down: ${previous.progress} → ${entry.progress} at ${entry.id}`);
      if (entry.children.completed < previous.children.completed)
        throw new Error(`completed went backwards at ${entry.id}`);
      if (entry.children.failed < previous.children.failed) throw new Error(`failed went backwards at ${entry.id}`);
      if (entry.children.pending > previous.children.pending) throw new Error(`pending went up at ${entry.id}`);
    }
    previous = entry;
  }
  return { terminal: terminal[0] as ParentEntry };
}
