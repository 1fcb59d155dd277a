/**
 * The Seenn JSON view: handlers free of any web framework, each `(request, deps) → { status, body }`,
 * and the providers that resolve a route's `:name` or `:id` first (answering 404 when there is none).
 */
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { parseLimitQuery, type JobPage, type ListOptions } from '../jobs-api.js';
import { DescriptorSchema } from '../model/descriptor.js';
import { isJobIdShape } from '../model/ids.js';
import type { SeennJob } from '../model/job.js';
import { exposition, metricsOffError } from '../metrics/index.js';
import type { VersionedRecord } from '../store/job-store.js';
import { readBridges, type BridgeEntry } from '../health/index.js';
import { readBullJob, type BullJobView } from './bull-job.js';
import { ok, type AdminRequest, type AdminResponse } from './http.js';
import { PAGE_CSP, PAGE_CSS, PAGE_SCRIPT, PAGE_USER_JOBS, renderPage, type PageData } from './page.js';
import { readQueueStatus, type QueueStatus } from './queue-status.js';

/** The Seenn reads the handlers use (`seenn.jobs`). */
export interface AdminJobReader {
  get(jobId: string): Promise<SeennJob | null>;
  list(userId: string, options?: ListOptions): Promise<JobPage>;
}

/** What handlers are given besides the request. */
export interface AdminDeps {
  ctx: SeennContext;
  jobs: AdminJobReader;
  /** The queues the route shows. */
  queues: readonly string[];
  /** bull-board's path under the route, or `null`. */
  boardPath: string | null;
}

/** A route handler. Handlers read only `params`, `query` and `headers`, never the framework request. */
export type AdminHandler = (req: AdminRequest<unknown>, deps: AdminDeps) => Promise<AdminResponse>;

/** The answer of `GET /api/queues`. */
export interface QueuesView {
  queues: QueueStatus[];
}

/** The answer of `GET /api/bridges`. */
export interface BridgesView {
  bridges: BridgeEntry[];
}

/** The answer of `GET /api/jobs/:id`. */
export interface JobView {
  seenn: SeennJob;
  /** `null` for a job BullMQ does not run (a batch parent) or no longer has (removed, cleaned). */
  bullmq: BullJobView | null;
}

/** `GET /api/queues`: every shown queue, in the order of the `queues` option. */
export const listQueues: AdminHandler = async (_req, { ctx, queues }) => {
  const statuses = await Promise.all(queues.map((name) => readQueueStatus(ctx, name)));
  return ok({ queues: statuses } satisfies QueuesView);
};

/** Resolves `:name` to a shown queue; any other name answers 404, as if it did not exist. */
export function withQueue(
  next: (req: AdminRequest<unknown>, deps: AdminDeps, name: string) => Promise<AdminResponse>,
): AdminHandler {
  return async (req, deps) => {
    const name = req.params['name'] ?? '';
    if (!deps.queues.includes(name)) throw new SeennError('NOT_FOUND', 'queue not found', { details: { queue: name } });
    return next(req, deps, name);
  };
}

/** `GET /api/queues/:name`: one queue. */
export const getQueue: AdminHandler = withQueue(async (_req, { ctx }, name) => ok(await readQueueStatus(ctx, name)));

/** Resolves `:id` to a stored Seenn job; an unknown or expired id answers 404. */
export function withJob(
  next: (req: AdminRequest<unknown>, deps: AdminDeps, stored: VersionedRecord) => Promise<AdminResponse>,
): AdminHandler {
  return async (req, deps) => {
    const id = req.params['id'] ?? '';
    const stored = isJobIdShape(id) ? await deps.ctx.store.readById(id) : null;
    if (stored === null) throw jobNotFound(id);
    return next(req, deps, stored);
  };
}

/** `GET /api/jobs/:id`: the Seenn job (as `seenn.jobs.get` gives it) beside BullMQ's view of it. */
export const getJob: AdminHandler = withJob(async (_req, { ctx, jobs }, stored) => {
  const { job, x } = stored.record;
  const [seenn, bullmq] = await Promise.all([
    jobs.get(job.id),
    x.queueName !== undefined && x.bullId !== undefined ? readBullJob(ctx, x.queueName, x.bullId) : null,
  ]);
  // The snapshot can expire between the two reads.
  if (seenn === null) throw jobNotFound(job.id);
  return ok({ seenn, bullmq } satisfies JobView);
});

/** `GET /api/users/:userId/jobs?limit=&cursor=`: a page of the user's jobs, newest first (`seenn.jobs.list`). */
export const listUserJobs: AdminHandler = async (req, { jobs }) => {
  const userId = req.params['userId'] ?? '';
  if (!DescriptorSchema.shape.userId.safeParse(userId).success)
    throw new SeennError('VALIDATION_ERROR', '`userId` is not a valid user id', { details: { userId } });
  const limit = parseLimitQuery(req.query.get('limit'));
  const cursor = req.query.get('cursor');
  const options: ListOptions = {};
  if (limit !== undefined) options.limit = limit;
  if (cursor !== null) options.cursor = cursor;
  return ok(await jobs.list(userId, options));
};

function jobNotFound(id: string): SeennError {
  return new SeennError('NOT_FOUND', 'job not found', { details: { id } });
}

/** `GET /metrics`: the seenn_* metrics (Prometheus text) of the registry in use; 404 with `metrics: false`. */
export const getMetrics: AdminHandler = async (_req, { ctx }) => {
  const registry = ctx.options.metrics.registry;
  if (registry === null) throw metricsOffError();
  return { status: 200, body: null, text: await exposition(registry) };
};

/** `GET /api/bridges`: every live bridge process of the app (from the bridge registry), oldest first. */
export const listBridges: AdminHandler = async (_req, { ctx }) =>
  ok({ bridges: await readBridges(ctx.redis, ctx.keys) } satisfies BridgesView);

/**
 * `GET /`: the Seenn admin page (see `page.ts`), server-rendered with the queues, the live bridges and,
 * with `?user=<userId>`, that user's newest jobs.
 */
export const getPage: AdminHandler = async (req, deps) => {
  const { ctx, jobs, queues, boardPath } = deps;
  const userId = req.query.get('user');
  const readUser = async (): Promise<PageData['user']> => {
    if (userId === null || userId === '') return null;
    if (!DescriptorSchema.shape.userId.safeParse(userId).success)
      return { userId, error: '`user` is not a valid user id' };
    return { userId, page: await jobs.list(userId, { limit: PAGE_USER_JOBS }) };
  };
  const [statuses, bridges, user] = await Promise.all([
    Promise.all(queues.map((name) => readQueueStatus(ctx, name))),
    readBridges(ctx.redis, ctx.keys),
    readUser(),
  ]);
  const html = renderPage({ basePath: req.basePath, boardPath, queues: statuses, bridges, user });
  return {
    status: 200,
    body: null,
    text: { contentType: 'text/html; charset=utf-8', body: html },
    headers: { 'Content-Security-Policy': PAGE_CSP },
  };
};

/** `GET /assets/admin.js`: the page's script. */
export const getPageScript: AdminHandler = async () => ({
  status: 200,
  body: null,
  text: { contentType: 'text/javascript; charset=utf-8', body: PAGE_SCRIPT },
});

/** `GET /assets/admin.css`: the page's style sheet. */
export const getPageStyle: AdminHandler = async () => ({
  status: 200,
  body: null,
  text: { contentType: 'text/css; charset=utf-8', body: PAGE_CSS },
});
