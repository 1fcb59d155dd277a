/**
 * What a fresh (unrecovered) stream sends as `job.sync`: the user's unfinished jobs, the jobs that
 * finished recently, and the jobs a filter or scoped token names explicitly, read through `seenn.jobs`
 * so every read-side decoration (queue position, ETA) applies.
 *
 * The jobs come page by page ({@link syncPages}), so a stream holds at most one page of job objects
 * at a time and stops reading as soon as its client is gone. A recovered stream sends no `job.sync`;
 * it reads only the unfinished jobs it watches for queue positions ({@link openJobsInScope}).
 */
import type { Principal } from '../auth/tokens.js';
import type { JobPage, JobsApi } from '../jobs-api.js';
import { finishedAtMs, isTerminal, type SeennJob } from '../model/job.js';
import type { JobRecord } from '../model/record.js';
import type { JobStore, SyncIds } from '../store/job-store.js';
import { canSee } from './authenticate.js';

/**
 * The reads {@link syncPages} needs. `indexed`, when the reader has it, finds the jobs to sync in the
 * store's unfinished- and finished-job indexes (its `ids` answer `null` when they cannot, and the
 * user's job list is read instead). `unfinished` lists up to `limit` of a user's unfinished jobs
 * (newest first, whatever its history): a job-list read syncs those older than the `syncMaxJobs`
 * newest jobs it examined through it.
 */
export type JobReader = Pick<JobsApi, 'get' | 'list'> & {
  indexed?: {
    ids: (userId: string, finishedSinceMs: number, limit: number) => Promise<SyncIds | null>;
    read: (userId: string, entries: readonly { id: string; index: keyof SyncIds }[]) => Promise<SeennJob[]>;
  };
  unfinished?: (userId: string, limit: number) => Promise<SeennJob[]>;
};

/**
 * A {@link JobReader} like `seenn.jobs` (lists decorated with queue positions and ETAs by
 * `decorate`) that lists through `store` — the bridge's auto-pipelined stream connection when it has
 * one — finds the jobs to sync in the store's job indexes, and reads single jobs through `fallback`.
 */
export function decoratedJobReader(
  store: JobStore,
  decorate: (records: readonly JobRecord[]) => Promise<SeennJob[]>,
  fallback: JobReader,
): JobReader {
  return {
    get: (jobId) => fallback.get(jobId),
    async list(userId, options = {}) {
      const { limit = SYNC_PAGE_JOBS, cursor } = options;
      const page = await store.list(userId, cursor === undefined ? { limit } : { limit, cursor });
      const result: JobPage = { jobs: await decorate(page.records) };
      if (page.nextCursor !== undefined) result.nextCursor = page.nextCursor;
      return result;
    },
    indexed: {
      ids: (userId, finishedSinceMs, limit) => store.syncIds(userId, finishedSinceMs, limit),
      read: async (userId, entries) => decorate(await store.readIndexed(userId, entries)),
    },
    async unfinished(userId, limit) {
      return decorate(await store.listOpen(userId, limit));
    },
  };
}

/** Inputs of {@link syncPages}. */
export interface SyncScope {
  principal: Principal;
  /** The stream's `jobId` filter, if any. */
  filterJobId: string | null;
  /** Finished jobs count as recent when they finished at or after this instant (epoch ms). */
  finishedSinceMs: number;
  /**
   * At most this many unfinished and this many recently finished jobs are synced (from the job
   * indexes), or at most this many of the user's newest jobs are examined (from the job list).
   */
  maxJobs: number;
  /** Checked before every read: once it answers `true`, nothing more is read. */
  cancelled?: () => boolean;
}

/** Jobs read per round trip (one page of the user's job list). */
export const SYNC_PAGE_JOBS = 100;

/**
 * The jobs to `job.sync`, one page at a time, each page sorted oldest first. Without a filter or
 * scope: the user's unfinished jobs and those finished since `finishedSinceMs`. With one: the named
 * jobs (whatever their state) and their unfinished or recently finished children. Named jobs not met
 * otherwise come last. Stops as soon as `scope.cancelled()` is true. Pages may be empty.
 *
 * The candidates come from the reader's job indexes when it has them and they are complete back to
 * `finishedSinceMs` (up to `maxJobs` of each kind, whatever the user's history; {@link syncIndexed}),
 * else from the user's job list ({@link syncListed}).
 */
export async function* syncPages(jobs: JobReader, scope: SyncScope): AsyncGenerator<SeennJob[], void, undefined> {
  const { principal, cancelled = () => false } = scope;
  const named = namedJobs(scope);
  const wanted = (job: SeennJob): boolean => !isTerminal(job.status) || finishedAtMs(job) >= scope.finishedSinceMs;
  const seen = new Set<string>();
  const select = (job: SeennJob): boolean => {
    const chosen = !seen.has(job.id) && inSyncScope(principal, named, job, wanted);
    if (chosen) seen.add(job.id);
    return chosen;
  };
  if (cancelled()) return;
  const { indexed } = jobs;
  const ids = indexed === undefined ? null : await indexed.ids(principal.userId, scope.finishedSinceMs, scope.maxJobs);
  if (indexed !== undefined && ids !== null) yield* syncIndexed(indexed.read, principal.userId, ids, select, cancelled);
  else yield* syncListed(jobs, scope, select, cancelled);
  const rest: SeennJob[] = [];
  for (const id of named ?? []) {
    if (seen.has(id)) continue;
    if (cancelled()) return;
    const job = await jobs.get(id);
    if (job !== null && canSee(principal, job)) {
      seen.add(job.id);
      rest.push(job);
    }
  }
  if (rest.length > 0) yield rest.sort(oldestFirst);
}

/** {@link syncPages} from the job indexes: the listed jobs, read {@link SYNC_PAGE_JOBS} per round trip. */
async function* syncIndexed(
  read: NonNullable<JobReader['indexed']>['read'],
  userId: string,
  ids: SyncIds,
  select: (job: SeennJob) => boolean,
  cancelled: () => boolean,
): AsyncGenerator<SeennJob[], void, undefined> {
  const entries = [
    ...ids.open.map((id) => ({ id, index: 'open' as const })),
    ...ids.finished.map((id) => ({ id, index: 'finished' as const })),
  ];
  for (let at = 0; at < entries.length; at += SYNC_PAGE_JOBS) {
    if (cancelled()) return;
    const page = await read(userId, entries.slice(at, at + SYNC_PAGE_JOBS));
    yield page.filter(select).sort(oldestFirst);
  }
}

/**
 * {@link syncPages} from the user's job list, read newest first a page per round trip: the jobs
 * `select` accepts among the `maxJobs` newest; when the user has more, the unfinished ones older than
 * those follow (from the reader's `unfinished`, if it has one).
 */
async function* syncListed(
  jobs: JobReader,
  scope: SyncScope,
  select: (job: SeennJob) => boolean,
  cancelled: () => boolean,
): AsyncGenerator<SeennJob[], void, undefined> {
  const { principal } = scope;
  let examined = 0;
  let cursor: string | undefined;
  do {
    if (cancelled()) return;
    const page = await jobs.list(
      principal.userId,
      cursor === undefined ? { limit: SYNC_PAGE_JOBS } : { limit: SYNC_PAGE_JOBS, cursor },
    );
    const selected: SeennJob[] = [];
    for (const job of page.jobs) {
      examined += 1;
      if (select(job)) selected.push(job);
      if (examined >= scope.maxJobs) break;
    }
    yield selected.sort(oldestFirst);
    cursor = page.nextCursor;
  } while (cursor !== undefined && examined < scope.maxJobs);
  // The window ended at maxJobs: unfinished jobs older than it are still live, and still synced.
  if (examined >= scope.maxJobs && jobs.unfinished !== undefined) {
    if (cancelled()) return;
    const older = (await jobs.unfinished(principal.userId, scope.maxJobs)).filter(select);
    if (older.length > 0) yield older.sort(oldestFirst);
  }
}

/**
 * The unfinished jobs a recovered stream watches for queue positions: the user's `maxJobs` newest
 * unfinished jobs, read from the unfinished-job index (so the cost follows the jobs still queued or
 * running, not the user's history), oldest first. With a filter or scope, only the named jobs and
 * their children among them.
 */
export async function openJobsInScope(
  store: JobStore,
  scope: Pick<SyncScope, 'principal' | 'filterJobId' | 'maxJobs'>,
): Promise<SeennJob[]> {
  const { principal } = scope;
  const named = namedJobs(scope);
  const records = await store.listOpen(principal.userId, scope.maxJobs);
  const jobs: SeennJob[] = [];
  for (const { job } of records) if (inSyncScope(principal, named, job, () => true)) jobs.push(job);
  return jobs.sort(oldestFirst);
}

/** The jobs a stream names (its `jobId` filter, else its token's job scope); `undefined` = all of the user's. */
function namedJobs(scope: Pick<SyncScope, 'principal' | 'filterJobId'>): readonly string[] | undefined {
  return scope.filterJobId !== null ? [scope.filterJobId] : scope.principal.jobIds;
}

/**
 * Whether a stream shows `job` at connect: one the principal may see, and — without `named` jobs — one
 * `wanted` accepts; with them, a named job (whatever its state) or a child of one that `wanted` accepts.
 */
function inSyncScope(
  principal: Principal,
  named: readonly string[] | undefined,
  job: SeennJob,
  wanted: (job: SeennJob) => boolean,
): boolean {
  if (!canSee(principal, job)) return false;
  if (named === undefined) return wanted(job);
  return named.includes(job.id) || (job.parent !== undefined && named.includes(job.parent.parentJobId) && wanted(job));
}

function oldestFirst(a: SeennJob, b: SeennJob): number {
  return Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.id < b.id ? -1 : 1);
}
