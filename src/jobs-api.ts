/**
 * `seenn.jobs`: start jobs on BullMQ and read Seenn job objects back.
 */
import { z } from 'zod';
import type { SeennContext } from './context.js';
import type { SeennJob } from './model/job.js';
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

const ListOptionsSchema = z.object({ limit: z.number().int().min(1).max(100).default(20), cursor: z.string().min(1).max(500).optional() }).strict();

/** A page of jobs, newest first. */
export interface JobPage {
  jobs: SeennJob[];
  /** Present when there are more jobs: pass it as `cursor` to get them. */
  nextCursor?: string;
}

/** A parent with its children (full job objects, sorted by `childIndex`). */
export interface ParentWithChildren {
  parent: SeennJob;
  children: SeennJob[];
}

/** The `seenn.jobs` API. */
export class JobsApi {
  /** Adds live queue positions and computed ETAs to the jobs read. */
  private readonly positions: PositionReader;

  /** @internal */
  constructor(private readonly ctx: SeennContext) {
    this.positions = new PositionReader(ctx);
  }

  /**
   * Adds a BullMQ job that the user `input.userId` sees live. Its id is a new ULID (also the BullMQ
   * job id); `seenn.jobs.get(id)` answers at once. Bad input throws a coded error and adds nothing.
   */
  start(input: StartJobInput): Promise<SeennJob> {
    return startJob(this.ctx, input);
  }

  /**
   * Creates a parent that expects `childCount` children, created next with {@link createChild}. It is
   * a Seenn-only job (BullMQ never runs it): its progress follows its children under
   * `childProgressMode`, and it completes by itself when they have all finished (or fails with the
   * first failed child unless `failParentOnChildFailure` is false).
   */
  createParent(input: CreateParentInput): Promise<SeennJob> {
    return createParent(this.ctx, input);
  }

  /**
   * Adds child `childIndex` (0-based) of a parent made by {@link createParent} to BullMQ. A taken
   * index throws `CONFLICT`; an index at or above `childCount`, or another user, `VALIDATION_ERROR`.
   */
  createChild(input: CreateChildInput): Promise<SeennJob> {
    return createChild(this.ctx, input);
  }

  /**
   * Creates a parent and all its children at once (children may name their own queues and weights);
   * they can be processed in parallel at once. With `parentJob` the parent is also a BullMQ flow
   * parent whose processor runs after its children.
   */
  createBatch(input: CreateBatchInput): Promise<Batch> {
    return createBatch(this.ctx, input);
  }

  /**
   * A parent with its children sorted by `childIndex` (children whose snapshot expired are left out),
   * decorated like {@link get}; `null` when the parent is unknown or has expired. A job that is no
   * parent comes back with no children.
   */
  async getWithChildren(parentId: string): Promise<ParentWithChildren | null> {
    const snapshot = await this.ctx.store.readById(parentId);
    if (snapshot === null) return null;
    const { userId } = snapshot.record.job;
    const childIds = await this.ctx.store.childIds(userId, parentId);
    const children = (await this.ctx.store.readMany(userId, childIds)).flatMap((child) => (child === null ? [] : [child.record]));
    const [parent, ...decorated] = await this.positions.decorate([snapshot.record, ...children]);
    return { parent: parent ?? snapshot.record.job, children: decorated };
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
}
