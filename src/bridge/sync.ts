/**
 * What a fresh (unrecovered) stream sends as `job.sync`: the user's unfinished jobs, the jobs that
 * finished recently, and the jobs a filter or scoped token names explicitly, read through `seenn.jobs`
 * so every read-side decoration (queue position, ETA) applies.
 */
import type { Principal } from '../auth/tokens.js';
import type { JobPage, JobsApi } from '../jobs-api.js';
import { isTerminal, type SeennJob } from '../model/job.js';
import type { JobStore } from '../store/job-store.js';
import { canSee } from './authenticate.js';

/** The reads {@link collectSyncJobs} needs. */
export type JobReader = Pick<JobsApi, 'get' | 'list'>;

/** A {@link JobReader} of the stored jobs as they are (no queue position or ETA: no position lookups). */
export function storedJobReader(store: JobStore): JobReader {
  return {
    async get(jobId) {
      return (await store.readById(jobId))?.record.job ?? null;
    },
    async list(userId, options = {}) {
      const { limit = PAGE, cursor } = options;
      const page = await store.list(userId, cursor === undefined ? { limit } : { limit, cursor });
      const result: JobPage = { jobs: page.records.map((record) => record.job) };
      if (page.nextCursor !== undefined) result.nextCursor = page.nextCursor;
      return result;
    },
  };
}

/** Inputs of {@link collectSyncJobs}. */
export interface SyncScope {
  principal: Principal;
  /** The stream's `jobId` filter, if any. */
  filterJobId: string | null;
  /** Finished jobs count as recent when they finished at or after this instant (epoch ms). */
  finishedSinceMs: number;
  /** At most this many of the user's newest jobs are examined. */
  maxJobs: number;
}

const PAGE = 100;

/**
 * The jobs to `job.sync`, oldest first. Without a filter or scope: every unfinished job and every job
 * finished since `finishedSinceMs` among the user's `maxJobs` newest. With one: the named jobs
 * (whatever their state) and their unfinished or recently finished children.
 */
export async function collectSyncJobs(jobs: JobReader, scope: SyncScope): Promise<SeennJob[]> {
  const { principal } = scope;
  const named = scope.filterJobId !== null ? [scope.filterJobId] : principal.jobIds;
  const wanted = (job: SeennJob): boolean => !isTerminal(job.status) || Date.parse(job.completedAt ?? job.updatedAt) >= scope.finishedSinceMs;
  const selected = new Map<string, SeennJob>();
  let examined = 0;
  let cursor: string | undefined;
  do {
    const page = await jobs.list(principal.userId, cursor === undefined ? { limit: PAGE } : { limit: PAGE, cursor });
    for (const job of page.jobs) {
      examined += 1;
      if (!canSee(principal, job)) continue;
      if (named === undefined ? wanted(job) : named.includes(job.id) || (job.parent !== undefined && named.includes(job.parent.parentJobId) && wanted(job))) selected.set(job.id, job);
      if (examined >= scope.maxJobs) break;
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined && examined < scope.maxJobs);
  for (const id of named ?? []) {
    if (selected.has(id)) continue;
    const job = await jobs.get(id);
    if (job !== null && canSee(principal, job)) selected.set(job.id, job);
  }
  return [...selected.values()].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.id < b.id ? -1 : 1));
}
