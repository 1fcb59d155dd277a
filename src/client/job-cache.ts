/**
 * The client's copy of the user's jobs. Job events replace a job whole (as the Seenn SDKs do);
 * `child.progress` is shallow-merged into a parent that is already cached. The cache is bounded:
 * finished jobs nobody watches are dropped first, oldest update first.
 */
import { isTerminal, type JobStatus, type SeennJob } from '../model/wire.js';

/** Whether `job` reached a final status (the model's own rule: `model/wire.ts` carries no schema code). */
export function isFinished(job: Pick<SeennJob, 'status'>): boolean {
  return isTerminal(job.status);
}

/** The payload of a `child.progress` event: parent fields to merge into the cached parent. */
export interface ChildProgressUpdate {
  parentJobId: string;
  progress?: number;
  status?: JobStatus;
  children?: SeennJob['children'];
  updatedAt?: string;
  [field: string]: unknown;
}

/**
 * Reads a job object from the wire: it must be an object with a string `id` or `jobId` and a
 * `status`; both id spellings are filled in. Returns `null` for anything else.
 */
export function readJob(value: unknown): SeennJob | null {
  if (typeof value !== 'object' || value === null) return null;
  const raw = value as Partial<SeennJob>;
  const id =
    typeof raw.id === 'string' && raw.id ? raw.id : typeof raw.jobId === 'string' && raw.jobId ? raw.jobId : undefined;
  if (id === undefined || typeof raw.status !== 'string' || typeof raw.progress !== 'number') return null;
  return { ...raw, id, jobId: id } as SeennJob;
}

/** Jobs by id, in least-recently-updated-first order. */
export class JobCache {
  private readonly jobs = new Map<string, SeennJob>();

  /**
   * @param maxJobs - the bound
   * @param isPinned - jobs that must not be dropped (watched ones)
   */
  constructor(
    private readonly maxJobs: number,
    private readonly isPinned: (jobId: string) => boolean,
  ) {}

  /** The cached job, if any. */
  get(jobId: string): SeennJob | undefined {
    return this.jobs.get(jobId);
  }

  /** Every cached job, newest `createdAt` first. */
  all(): SeennJob[] {
    return [...this.jobs.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /** Replaces the job; returns it. */
  replace(job: SeennJob): SeennJob {
    this.jobs.delete(job.id);
    this.jobs.set(job.id, job);
    this.evict();
    return job;
  }

  /** Shallow-merges a `child.progress` update into its cached parent; returns the new parent, or `null` when it is not cached. */
  mergeChildProgress(update: ChildProgressUpdate): SeennJob | null {
    const parent = this.jobs.get(update.parentJobId);
    if (parent === undefined) return null;
    const { parentJobId: _parentJobId, ...fields } = update;
    return this.replace({ ...parent, ...fields, id: parent.id, jobId: parent.id } as SeennJob);
  }

  /** Forgets every job. */
  clear(): void {
    this.jobs.clear();
  }

  private evict(): void {
    if (this.jobs.size <= this.maxJobs) return;
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= this.maxJobs) return;
      if (isFinished(job) && !this.isPinned(id)) this.jobs.delete(id);
    }
  }
}
