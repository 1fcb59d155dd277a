/**
 * The Seenn descriptor: what makes a BullMQ job visible to a user. `seenn.jobs.start` stores it in
 * the job's data under {@link DESCRIPTOR_KEY}; for plain `queue.add` jobs the publisher's
 * `describe(job)` supplies it.
 */
import { z } from 'zod';
import { isJobIdShape } from './ids.js';
import { CHILD_PROGRESS_MODES, LIMITS, boundedObject, type Exactly, type Proven } from './job.js';
import type { ChildProgressMode } from './wire.js';

/** Whether `value` holds a C0 control character (they would break key names and SSE lines). */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) if (value.charCodeAt(i) < 0x20) return true;
  return false;
}

/**
 * The key of `job.data` that carries the sealed descriptor of jobs made by `seenn.jobs.start` (see
 * `descriptor-seal.ts`: job data is never trusted on its own). Reserved.
 */
export const DESCRIPTOR_KEY = '__seenn';

/** What `describe(job)` returns (and what `jobs.start` stores): who sees the job, and as what. */
export const DescriptorSchema = z
  .object({
    userId: z
      .string()
      .min(1)
      .max(LIMITS.userIdChars)
      .refine((value) => !hasControlCharacter(value), 'userId must not contain control characters'),
    jobType: z.string().min(1).max(LIMITS.jobTypeChars),
    title: z.string().min(1).max(LIMITS.titleChars),
    metadata: boundedObject(LIMITS.metadataBytes, 'metadata').optional(),
    workflowId: z.string().min(1).max(LIMITS.jobTypeChars).optional(),
    estimatedCompletionAt: z.iso.datetime({ offset: true }).optional(),
    /** For children: the Seenn id of the parent and this child's 0-based index. */
    parent: z
      .object({
        parentJobId: z.string().refine(isJobIdShape, 'parentJobId must be a Seenn job id'),
        childIndex: z
          .number()
          .int()
          .min(0)
          .max(LIMITS.maxChildren - 1),
        weight: z.number().positive().finite().optional(),
      })
      .strict()
      .optional(),
    /** For parents that BullMQ also runs (flows): how children count. */
    children: z
      .object({
        total: z.number().int().min(1).max(LIMITS.maxChildren),
        mode: z.enum(CHILD_PROGRESS_MODES).default('average'),
        failParentOnChildFailure: z.boolean().default(true),
      })
      .strict()
      .optional(),
  })
  .strict();

/** The descriptor as input (defaults not yet applied): what `describe(job)` returns. */
export interface DescriptorInput {
  userId: string;
  jobType: string;
  title: string;
  metadata?: Record<string, unknown> | undefined;
  workflowId?: string | undefined;
  /** ISO-8601, any offset. */
  estimatedCompletionAt?: string | undefined;
  /** For children: the Seenn id of the parent and this child's 0-based index. */
  parent?: { parentJobId: string; childIndex: number; weight?: number | undefined } | undefined;
  /** For parents that BullMQ also runs (flows): how children count (`mode` defaults to `average`, `failParentOnChildFailure` to `true`). */
  children?:
    { total: number; mode?: ChildProgressMode | undefined; failParentOnChildFailure?: boolean | undefined } | undefined;
}

/** The descriptor of a tracked job (defaults applied). */
export interface Descriptor extends Omit<DescriptorInput, 'children'> {
  children?: { total: number; mode: ChildProgressMode; failParentOnChildFailure: boolean } | undefined;
}

type _DescriptorProven = Proven<Exactly<z.infer<typeof DescriptorSchema>, Descriptor>>;
type _DescriptorInputProven = Proven<Exactly<z.input<typeof DescriptorSchema>, DescriptorInput>>;

/** What `jobs.start` writes under `job.data.__seenn`: the descriptor plus the Seenn id. */
export const StoredDescriptorSchema = DescriptorSchema.extend({
  id: z.string().refine(isJobIdShape, 'id must be a Seenn job id'),
});

/** The descriptor stored in `job.data.__seenn`. */
export type StoredDescriptor = z.infer<typeof StoredDescriptorSchema>;

/** Who sees a new job and as what: the descriptor fields every start input takes (`jobs.start`, parents, Seenn-only jobs). */
export const JobFieldsSchema = DescriptorSchema.pick({
  userId: true,
  jobType: true,
  title: true,
  metadata: true,
  workflowId: true,
});

/** Who sees a new job and as what (the fields a first record starts from). */
export interface JobFields {
  userId: string;
  jobType: string;
  title: string;
  metadata?: Record<string, unknown> | undefined;
  workflowId?: string | undefined;
}

type _JobFieldsProven = Proven<Exactly<z.infer<typeof JobFieldsSchema>, JobFields>>;

/** A child's place as a caller names it: its parent's Seenn id and its 0-based index (`createChild`, Seenn-only children). */
export const ChildPlaceSchema = z.object({
  parentJobId: z.string().min(1).max(512),
  childIndex: z
    .number()
    .int()
    .min(0)
    .max(LIMITS.maxChildren - 1),
});

/** A child's weight under `weighted` mode, on a 10⁻⁶ grid so running sums of weights stay exact. */
export const ChildWeightSchema = z
  .number()
  .finite()
  .min(0.000001)
  .max(1_000_000)
  .transform((weight) => Math.round(weight * 1e6) / 1e6);
