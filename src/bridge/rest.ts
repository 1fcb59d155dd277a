/**
 * The REST read routes as plain async functions of (principal, input) → JSON body. They read through
 * `seenn.jobs` (so read-side decoration applies) and answer 404 for any job the principal may not see.
 */
import type { Principal } from '../auth/tokens.js';
import { PAGE_LIMIT, parseLimitQuery, type JobPage } from '../jobs-api.js';
import { isJobIdShape } from '../model/ids.js';
import type { ChildJobSummary, SeennJob } from '../model/job.js';
import { childSummaryOf, type ParentWithChildSummaries } from '../model/wire.js';
import { canSee, jobNotFound } from './authenticate.js';
import type { JobReader } from './sync.js';

/** A job reader that may also know how to read a parent with its children. */
export type RestJobReader = JobReader & {
  getWithChildren?: (
    parentId: string,
  ) => Promise<{ parent: SeennJob; children: readonly (ChildJobSummary | SeennJob)[] } | null>;
};

/** Jobs examined, newest first, when looking for a parent's children without `getWithChildren`. */
const CHILD_SCAN_MAX_JOBS = 5_000;

/** `GET /jobs/:id`: the job, or 404. */
export async function getJob(jobs: RestJobReader, principal: Principal, jobId: string): Promise<SeennJob> {
  if (!isJobIdShape(jobId)) throw jobNotFound(jobId);
  const job = await jobs.get(jobId);
  if (job === null || !canSee(principal, job)) throw jobNotFound(jobId);
  return job;
}

/** `GET /jobs?limit=&cursor=`: a page of the principal's jobs, newest first. */
export async function listJobs(jobs: RestJobReader, principal: Principal, query: URLSearchParams): Promise<JobPage> {
  const limit = parseLimitQuery(query.get('limit')) ?? PAGE_LIMIT.default;
  const cursor = query.get('cursor');
  if (principal.jobIds !== undefined) return listScoped(jobs, principal, principal.jobIds, limit);
  const page = await jobs.list(principal.userId, cursor === null ? { limit } : { limit, cursor });
  return page;
}

/** A scoped principal's list: the jobs its scope names, newest first, on one page. */
async function listScoped(
  jobs: RestJobReader,
  principal: Principal,
  jobIds: readonly string[],
  limit: number,
): Promise<JobPage> {
  const found = await Promise.all(jobIds.map((id) => jobs.get(id)));
  const visible = found.filter((job): job is SeennJob => job !== null && canSee(principal, job));
  visible.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : -1));
  return { jobs: visible.slice(0, limit) };
}

/** `GET /jobs/:parentId/children`: the parent and its children sorted by `childIndex`, or 404. */
export async function getChildren(
  jobs: RestJobReader,
  principal: Principal,
  parentId: string,
): Promise<ParentWithChildSummaries> {
  const parent = await getJob(jobs, principal, parentId);
  if (typeof jobs.getWithChildren === 'function') {
    const found = await jobs.getWithChildren(parentId);
    if (found === null) throw jobNotFound(parentId);
    return { parent: found.parent, children: found.children.map(toSummary).sort(byChildIndex) };
  }
  const children: ChildJobSummary[] = [];
  const expected = parent.children?.total ?? Number.POSITIVE_INFINITY;
  let examined = 0;
  let cursor: string | undefined;
  do {
    const page = await jobs.list(principal.userId, cursor === undefined ? { limit: 100 } : { limit: 100, cursor });
    for (const job of page.jobs)
      if (job.parent?.parentJobId === parentId && job.userId === principal.userId) children.push(toSummary(job));
    examined += page.jobs.length;
    cursor = page.nextCursor;
  } while (cursor !== undefined && children.length < expected && examined < CHILD_SCAN_MAX_JOBS);
  return { parent, children: children.sort(byChildIndex) };
}

/** A child row: a summary as it is, or the summary fields of a full child job. */
function toSummary(child: ChildJobSummary | SeennJob): ChildJobSummary {
  return 'childIndex' in child ? child : childSummaryOf(child);
}

function byChildIndex(a: ChildJobSummary, b: ChildJobSummary): number {
  return a.childIndex - b.childIndex;
}
