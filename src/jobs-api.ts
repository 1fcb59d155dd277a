/**
 * `seenn.jobs`: start jobs (on BullMQ, or Seenn-only jobs driven by their handle), read Seenn job
 * objects back, and cancel jobs. Every job it hands out is a {@link JobHandle}.
 */
import { z } from 'zod';
import type { SeennContext } from './context.js';
import { SeennError } from './errors.js';
import {
  attachHandle,
  cancelJob,
  createSeennOnlyBatch,
  createSeennOnlyChild,
  startSeennOnlyJob,
  type JobHandle,
  type JobHandleRef,
  type SeennOnlyJobInput,
  type SeennOnlyParentSpec,
  type SeennOnlyChildLink,
} from './handles/index.js';
import type { CancelOptions } from './model/updates.js';
import type { ChildrenStats, SeennJob } from './model/job.js';
import { parseOrThrow } from './options.js';
import { PositionReader } from './position/index.js';
import {
  createBatch,
  createChild,
  createParent,
  startJob,
  type Batch,
  type CreateBatchInput,
  type CreateChildInput,
  type CreateParentInput,
  type StartJobInput,
} from './producer/index.js';

/** Options of {@link JobsApi.list}. */
export interface ListOptions {
  /** Page size, 1–100. @defaultValue 20 */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

/** How many jobs one page holds at most, and when `limit` is not given. */
export const PAGE_LIMIT = Object.freeze({ max: 100, default: 20 });

const ListOptionsSchema = z
  .object({
    limit: z.number().int().min(1).max(PAGE_LIMIT.max).default(PAGE_LIMIT.default),
    cursor: z.string().min(1).max(500).optional(),
  })
  .strict();

/**
 * The `limit` query parameter of a list route (`GET /jobs`, the admin route's user jobs): `undefined`
 * when absent, else an integer from 1 to {@link PAGE_LIMIT}.max written in digits, or a `VALIDATION_ERROR`.
 */
export function parseLimitQuery(text: string | null): number | undefined {
  if (text === null) return undefined;
  const limit = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(limit >= 1 && limit <= PAGE_LIMIT.max))
    throw new SeennError('VALIDATION_ERROR', `\`limit\` must be an integer from 1 to ${PAGE_LIMIT.max}`, {
      details: { limit: text },
    });
  return limit;
}

/** A page of jobs, newest first. */
export interface JobPage {
  jobs: SeennJob[];
  /** Present when there are more jobs: pass it as `cursor` to get them. */
  nextCursor?: string;
}

/** The seed's `childProgress`: a parent's children counters without `total`. */
export type ChildProgress = Omit<ChildrenStats, 'total'>;

/**
 * What {@link JobsApi.getWithChildren} answers: the parent and its children as handles (full job
 * objects, sorted by `childIndex`). The REST route `GET /jobs/:parentId/children` answers
 * summaries instead.
 */
export interface ParentWithChildHandles {
  /** The parent; it also carries `childProgress` (non-enumerable) when it is a parent. */
  parent: JobHandle & { readonly childProgress?: ChildProgress };
  children: JobHandle[];
  /** The parent's children counters `{ completed, failed, running, pending }` (absent for a job that is no parent). */
  childProgress?: ChildProgress;
}

/** Input of {@link JobsApi.start}: a BullMQ job (`queue: 'name'`) or a Seenn-only job (no queue, or `queue: { position, total?, queueName? }`). */
export type StartInput = StartJobInput | SeennOnlyJobInput;

/** Input of {@link JobsApi.createBatch}: without `queue`, the children are Seenn-only jobs driven by their handles. */
export type BatchInput = Omit<CreateBatchInput, 'queue'> & { queue?: string };

/** A batch as handles. */
export interface BatchHandles {
  parent: JobHandle;
  children: JobHandle[];
}

export type { CancelOptions } from './model/updates.js';

/** The `seenn.jobs` API. */
export class JobsApi {
  /** Adds live queue positions and computed ETAs to the jobs read. */
  private readonly positions: PositionReader;

  /** @internal */
  constructor(private readonly ctx: SeennContext) {
    this.positions = new PositionReader(ctx, ctx.options.positions);
  }

  /**
   * Starts a job the user `input.userId` sees live and returns its handle (the stored job object with
   * `setProgress`, `complete`, `fail`, `cancel` and `refresh`). With `queue: 'name'` it is a BullMQ
   * job whose id is a new ULID (also the BullMQ job id) and whose worker drives it. Without a queue, or
   * with Seenn's `queue: { position, total?, queueName? }`, it is a Seenn-only job driven by its
   * handle: `pending` until its first progress. Bad input throws a coded error and adds nothing.
   */
  async start(input: StartInput): Promise<JobHandle> {
    const bullmq = typeof (input as Partial<StartInput> | undefined)?.queue === 'string';
    const job = bullmq
      ? await startJob(this.ctx, input as StartJobInput)
      : await startSeennOnlyJob(this.ctx, input as SeennOnlyJobInput);
    return this.asHandle(job);
  }

  /**
   * A handle for an existing job, in any process: `setProgress`, `complete`, `fail`, `cancel` and
   * `refresh` (its job fields are filled by the first of them that resolves). Nothing is read here.
   */
  handle(jobId: string): JobHandleRef {
    return attachHandle(this.ctx, (id) => this.get(id), { id: jobId, jobId });
  }

  /**
   * Cancels a job (see {@link JobHandle.cancel}): `CONFLICT` when it has finished, `NOT_FOUND` when it
   * is unknown. Returns the job as stored now.
   */
  async cancel(jobId: string, options: CancelOptions = {}): Promise<JobHandle> {
    return this.asHandle(await cancelJob(this.ctx, jobId, options));
  }

  /**
   * Creates a parent that expects `childCount` children, created next with {@link createChild}. It is
   * a Seenn-only job (BullMQ never runs it): its progress follows its children under
   * `childProgressMode`, and it completes by itself when they have all finished (or fails with the
   * first failed child unless `failParentOnChildFailure` is false).
   */
  async createParent(input: CreateParentInput): Promise<JobHandle> {
    return this.asHandle(await createParent(this.ctx, input));
  }

  /**
   * Adds child `childIndex` (0-based) of a parent made by {@link createParent}: to BullMQ when it or
   * its parent names a queue, else as a Seenn-only child driven by its handle (no `data` or `opts`
   * then). A taken index throws `CONFLICT`; an index at or above `childCount`, or another user,
   * `VALIDATION_ERROR`.
   */
  async createChild(input: CreateChildInput): Promise<JobHandle> {
    if (input.queue === undefined) {
      const parent = await this.ctx.store.readById(String(input.parentJobId));
      if (
        parent !== null &&
        parent.record.x.queueName === undefined &&
        parent.record.x.childQueue === undefined &&
        parent.record.x.aggregate !== undefined
      ) {
        return this.asHandle(await seennOnlyChild(this.ctx, input, parent.record.job.userId));
      }
    }
    return this.asHandle(await createChild(this.ctx, input));
  }

  /**
   * Creates a parent and all its children at once (children may name their own queues and weights);
   * they can be processed in parallel at once. With `parentJob` the parent is also a BullMQ flow
   * parent whose processor runs after its children. Without `queue` (and `childTitles`, or children
   * given by title alone) the children are Seenn-only jobs driven by their handles, and the parent
   * completes by itself when they have all finished.
   */
  async createBatch(input: BatchInput): Promise<BatchHandles> {
    const batch: Batch =
      input.queue === undefined
        ? await seennOnlyBatch(this.ctx, input)
        : await createBatch(this.ctx, input as CreateBatchInput);
    return { parent: this.asHandle(batch.parent), children: batch.children.map((child) => this.asHandle(child)) };
  }

  /**
   * A parent with its children sorted by `childIndex` (children whose snapshot expired are left out),
   * decorated like {@link get}; `null` when the parent is unknown or has expired. A job that is no
   * parent comes back with no children.
   */
  async getWithChildren(parentId: string): Promise<ParentWithChildHandles | null> {
    const snapshot = await this.ctx.store.readById(parentId);
    if (snapshot === null) return null;
    const { userId } = snapshot.record.job;
    const childIds = await this.ctx.store.childIds(userId, parentId);
    const children = (await this.ctx.store.readMany(userId, childIds)).flatMap((child) =>
      child === null ? [] : [child.record],
    );
    const [parent, ...decorated] = await this.positions.decorate([snapshot.record, ...children]);
    const parentHandle = this.asHandle(parent ?? snapshot.record.job);
    const result: ParentWithChildHandles = {
      parent: parentHandle,
      children: decorated.map((child) => this.asHandle(child)),
    };
    const stats = parentHandle.children;
    if (stats !== undefined) {
      const childProgress: ChildProgress = {
        completed: stats.completed,
        failed: stats.failed,
        running: stats.running,
        pending: stats.pending,
      };
      result.childProgress = childProgress;
      Object.defineProperty(parentHandle, 'childProgress', {
        value: childProgress,
        enumerable: false,
        configurable: true,
      });
    }
    return result;
  }

  /**
   * The job with this Seenn id, or `null` when it is unknown or has expired. A queued job carries its
   * live `queue` position, and jobs without an explicit ETA a computed one (see `src/position/`).
   */
  async get(jobId: string): Promise<SeennJob | null> {
    const snapshot = await this.ctx.store.readById(jobId);
    if (snapshot === null) return null;
    const [job] = await this.positions.decorate([snapshot.record]);
    return job ?? null;
  }

  /** A page of one user's jobs, newest first, decorated like {@link JobsApi.get}. */
  async list(userId: string, options: ListOptions = {}): Promise<JobPage> {
    const { limit, cursor } = parseOrThrow(ListOptionsSchema, options, 'list options', 'VALIDATION_ERROR');
    const page = await this.ctx.store.list(userId, cursor === undefined ? { limit } : { limit, cursor });
    const result: JobPage = { jobs: await this.positions.decorate(page.records) };
    if (page.nextCursor !== undefined) result.nextCursor = page.nextCursor;
    return result;
  }

  /** A job object as a handle (an instance field, so the prototype lists only the public API). */
  private readonly asHandle = (job: SeennJob): JobHandle => attachHandle(this.ctx, (id) => this.get(id), job);
}

/** A Seenn-only child of a Seenn-only parent (no queue anywhere). */
function seennOnlyChild(ctx: SeennContext, input: CreateChildInput, parentUserId: string): Promise<SeennJob> {
  const unsupported = (['data', 'opts'] as const).filter((name) => input[name] !== undefined);
  if (unsupported.length > 0)
    throw new SeennError(
      'VALIDATION_ERROR',
      `a child without a queue is a Seenn-only job: ${unsupported.join(' and ')} cannot be given`,
      { details: { fields: unsupported } },
    );
  const fields: SeennOnlyJobInput = {
    userId: input.userId ?? parentUserId,
    jobType: input.jobType,
    title: input.title,
  };
  if (input.metadata !== undefined) fields.metadata = input.metadata;
  const link: SeennOnlyChildLink = { parentJobId: input.parentJobId, childIndex: input.childIndex };
  if (input.weight !== undefined) link.weight = input.weight;
  return createSeennOnlyChild(ctx, fields, link);
}

/** A batch without a queue: a Seenn-only parent and Seenn-only children. */
function seennOnlyBatch(ctx: SeennContext, input: BatchInput): Promise<Batch> {
  const unsupported = (['parentJob', 'opts'] as const).filter((name) => input[name] !== undefined);
  const childTitles = input.childTitles ?? input.children?.map((child) => child.title) ?? [];
  const rich = input.children?.some((child) => Object.keys(child).some((key) => key !== 'title')) ?? false;
  if (unsupported.length > 0 || rich) {
    throw new SeennError(
      'VALIDATION_ERROR',
      'a batch without a queue has Seenn-only children: give childTitles (or children with a title only), no parentJob or opts',
      { details: { fields: unsupported } },
    );
  }
  if (input.childTitles !== undefined && input.children !== undefined)
    throw new SeennError('VALIDATION_ERROR', 'give either childTitles or children (not both)', { details: {} });
  const fields: SeennOnlyJobInput = { userId: input.userId, jobType: input.jobType, title: input.parentTitle };
  if (input.metadata !== undefined) fields.metadata = input.metadata;
  if (input.workflowId !== undefined) fields.workflowId = input.workflowId;
  const spec: Omit<SeennOnlyParentSpec, 'childCount'> = {};
  if (input.childProgressMode !== undefined) spec.childProgressMode = input.childProgressMode;
  if (input.failParentOnChildFailure !== undefined) spec.failParentOnChildFailure = input.failParentOnChildFailure;
  return createSeennOnlyBatch(ctx, fields, spec, childTitles);
}
