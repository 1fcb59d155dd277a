/**
 * Inputs of `seenn.jobs.createParent`, `createChild` and `createBatch`, and their validation.
 */
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { ChildPlaceSchema, ChildWeightSchema, DescriptorSchema, JobFieldsSchema } from '../model/descriptor.js';
import { CHILD_PROGRESS_MODES, LIMITS, QueueNameSchema, type ChildProgressMode } from '../model/job.js';
import { JobDataSchema, jobsOptionsSchema } from './input-schemas.js';

/** Input of `seenn.jobs.createParent`: a parent whose children are then created one by one. */
export interface CreateParentInput {
  /** The user who sees the parent (and its children). */
  userId: string;
  /** The parent's type. */
  jobType: string;
  /** What the user sees the parent as. */
  title: string;
  /** How many children the parent expects, 1–1000. */
  childCount: number;
  /** How the parent's progress follows from its children. @defaultValue 'average' */
  childProgressMode?: ChildProgressMode;
  /** Whether the first failed (or cancelled) child fails the parent. @defaultValue true */
  failParentOnChildFailure?: boolean;
  /** The BullMQ queue of children created without a `queue` of their own (no `:`). */
  queue?: string;
  /** Shown to the user with the parent (at most 10 KB as JSON). */
  metadata?: Record<string, unknown>;
  /** Groups related jobs. */
  workflowId?: string;
}

/** Input of `seenn.jobs.createChild`: one child of a parent made by `createParent`. */
export interface CreateChildInput {
  /** The Seenn id of the parent. */
  parentJobId: string;
  /** The child's 0-based index, below the parent's `childCount`; each index is used once. */
  childIndex: number;
  /** The BullMQ queue to add the child to. @defaultValue the parent's `queue` */
  queue?: string;
  /** The user who sees the child: the parent's user (checked when given). */
  userId?: string;
  /** The child's type; also the BullMQ job name. */
  jobType: string;
  /** What the user sees the child as. */
  title: string;
  /** The child's data for the worker: a plain object, without the reserved key `__seenn`. */
  data?: Record<string, unknown>;
  /** The child's weight under `weighted` mode, a positive number up to 1,000,000 (6 decimals kept). @defaultValue 1 */
  weight?: number;
  /** Shown to the user with the child. */
  metadata?: Record<string, unknown>;
  /** BullMQ job options, passed through (`jobId`, `deduplication`, `parent` and `repeat` are not allowed). */
  opts?: JobsOptions;
}

/** One child of `seenn.jobs.createBatch`. */
export interface BatchChildInput {
  /** What the user sees the child as. */
  title: string;
  /** The child's data for the worker (without the reserved key `__seenn`). */
  data?: Record<string, unknown>;
  /** The child's BullMQ queue. @defaultValue the batch's `queue` */
  queue?: string;
  /** The child's weight under `weighted` mode. @defaultValue 1 */
  weight?: number;
  /** The child's type and BullMQ job name. @defaultValue the batch's `jobType` */
  jobType?: string;
  /** Shown to the user with the child. */
  metadata?: Record<string, unknown>;
  /** BullMQ options of this child, over the batch's `opts`. */
  opts?: JobsOptions;
}

/** Input of `seenn.jobs.createBatch`: a parent and all its children at once. */
export interface CreateBatchInput {
  /** The queue of every child that names none (and of the parent's own job with `parentJob`). */
  queue: string;
  /** The user who sees the batch. */
  userId: string;
  /** The type of the parent and (by default) of the children. */
  jobType: string;
  /** What the user sees the parent as. */
  parentTitle: string;
  /** The children by title (give this or `children`, 1–1000 of them). */
  childTitles?: string[];
  /** The children in full (give this or `childTitles`). */
  children?: BatchChildInput[];
  /** How the parent's progress follows from its children. @defaultValue 'average' */
  childProgressMode?: ChildProgressMode;
  /** Whether the first failed (or cancelled) child fails the parent. @defaultValue true */
  failParentOnChildFailure?: boolean;
  /** Shown to the user with the parent. */
  metadata?: Record<string, unknown>;
  /** Groups related jobs. */
  workflowId?: string;
  /** BullMQ options of every child. */
  opts?: JobsOptions;
  /**
   * Makes the parent a real BullMQ job too (a FlowProducer flow): it runs in `queue`, named
   * `jobType`, after every child has finished, and the parent completes when its processor does
   * (its return value becomes the parent's `result`). Children then get BullMQ's
   * `failParentOnFailure` (or, with `failParentOnChildFailure: false`, `ignoreDependencyOnFailure`)
   * unless their options set a failure option of their own. Without it the parent is a Seenn-only
   * job that completes by itself.
   */
  parentJob?: { data?: Record<string, unknown>; opts?: JobsOptions };
}

/** The BullMQ options batch jobs may carry (checked before anything is written). */
const JobsOptionsSchema = jobsOptionsSchema({
  jobId: 'jobId is chosen by Seenn (a ULID); leave it out',
  deduplication: 'deduplication is not supported for batch jobs',
  parent: 'parent is set by Seenn for batch jobs',
  repeat: 'repeat is not supported for batch jobs',
});

const FamilyFieldsSchema = z.object({
  childProgressMode: z.enum(CHILD_PROGRESS_MODES).default('average'),
  failParentOnChildFailure: z.boolean().default(true),
});

/** Validates {@link CreateParentInput}. */
export const CreateParentInputSchema = JobFieldsSchema.extend(FamilyFieldsSchema.shape)
  .extend({
    childCount: z.number().int().min(1).max(LIMITS.maxChildren),
    queue: QueueNameSchema.optional(),
  })
  .strict();

/** Validates {@link CreateChildInput}. */
export const CreateChildInputSchema = DescriptorSchema.pick({ jobType: true, title: true, metadata: true })
  .extend(ChildPlaceSchema.shape)
  .extend({
    queue: QueueNameSchema.optional(),
    userId: DescriptorSchema.shape.userId.optional(),
    data: JobDataSchema.optional(),
    weight: ChildWeightSchema.optional(),
    opts: JobsOptionsSchema.optional(),
  })
  .strict();

const BatchChildSchema = z
  .object({
    title: DescriptorSchema.shape.title,
    data: JobDataSchema.optional(),
    queue: QueueNameSchema.optional(),
    weight: ChildWeightSchema.optional(),
    jobType: DescriptorSchema.shape.jobType.optional(),
    metadata: DescriptorSchema.shape.metadata,
    opts: JobsOptionsSchema.optional(),
  })
  .strict();

/** Validates {@link CreateBatchInput}. */
export const CreateBatchInputSchema = DescriptorSchema.pick({
  userId: true,
  jobType: true,
  metadata: true,
  workflowId: true,
})
  .extend(FamilyFieldsSchema.shape)
  .extend({
    queue: QueueNameSchema,
    parentTitle: DescriptorSchema.shape.title,
    childTitles: z.array(DescriptorSchema.shape.title).min(1).max(LIMITS.maxChildren).optional(),
    children: z.array(BatchChildSchema).min(1).max(LIMITS.maxChildren).optional(),
    opts: JobsOptionsSchema.optional(),
    parentJob: z.object({ data: JobDataSchema.optional(), opts: JobsOptionsSchema.optional() }).strict().optional(),
  })
  .strict()
  .refine((input) => (input.childTitles === undefined) !== (input.children === undefined), {
    message: 'give either childTitles or children (not both)',
    path: ['children'],
  });

/** A validated {@link CreateParentInput}. */
export type ParsedParentInput = z.output<typeof CreateParentInputSchema>;
/** A validated {@link CreateChildInput}. */
export type ParsedChildInput = z.output<typeof CreateChildInputSchema>;
/** A validated {@link CreateBatchInput}. */
export type ParsedBatchInput = z.output<typeof CreateBatchInputSchema>;
