/**
 * The Seenn job object of PROTOCOL.md as zod schemas. These shapes are the wire contract: every REST
 * body and SSE payload is a {@link SeennJob}. The types themselves are written out in `wire.ts`
 * (zod-free, shared with the client); each schema here is proven to parse to exactly its type.
 */
import { z } from 'zod';
import {
  CHILD_PROGRESS_MODES,
  JOB_STATUSES,
  type Attempt,
  type ChildrenStats,
  type JobError,
  type ParentLink,
  type QueueInfo,
  type SeennJob,
  type Stage,
} from './wire.js';
import type { StandardSchemaV1 } from './standard-schema.js';

export {
  JOB_STATUSES,
  TERMINAL_STATUSES,
  isTerminal,
  CHILD_PROGRESS_MODES,
  type JobStatus,
  type ChildProgressMode,
  type Stage,
  type QueueInfo,
  type JobError,
  type ParentLink,
  type ChildrenStats,
  type Attempt,
  type SeennJob,
  type ChildJobSummary,
} from './wire.js';

/**
 * When a finished job finished (epoch ms): its `completedAt`, else its last update. What a fresh
 * stream's "finished recently" is measured by, and the job's score in the finished-job index.
 */
export function finishedAtMs(job: Pick<SeennJob, 'completedAt' | 'updatedAt'>): number {
  return Date.parse(job.completedAt ?? job.updatedAt);
}

/** `true` when `A` and `B` are the same type (not merely assignable either way). */
export type Exactly<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when given `true`: used to prove a schema parses to its written type. */
export type Proven<T extends true> = T;

/** Bounds shared by the schemas, the `setProgress` helper and the HTTP layer. */
export const LIMITS = {
  userIdChars: 255,
  jobTypeChars: 100,
  titleChars: 200,
  messageChars: 1_000,
  stageNameChars: 100,
  stageDescriptionChars: 500,
  metadataBytes: 10 * 1024,
  resultBytes: 100 * 1024,
  errorMessageChars: 2_000,
  maxChildren: 1_000,
  /** Seenn's per-job `ttlSeconds`: at least a minute… */
  minTtlSeconds: 60,
  /** …and at most 30 days. */
  maxTtlSeconds: 30 * 24 * 3600,
  /** How deeply objects and arrays may nest in metadata, job data and options (serde_json's default). */
  jsonDepth: 128,
  /** A queue name: a BullMQ queue's ({@link QueueNameSchema}) or the display name of a Seenn-only job's `queue`. */
  queueNameChars: 200,
} as const;

/** A BullMQ queue name: 1 to 200 characters, no `:` (BullMQ's key separator). */
export const QueueNameSchema = z
  .string()
  .min(1)
  .max(LIMITS.queueNameChars)
  .refine((name) => !name.includes(':'), 'queue names cannot contain `:`');

/** A time as input: ISO-8601 with an offset, or a `Date`; parsed to ISO-8601 UTC. */
export const IsoTimeInputSchema = z
  .union([z.iso.datetime({ offset: true }), z.date()])
  .transform((value) => (value instanceof Date ? value : new Date(value)).toISOString());

/** Seenn's per-job `ttlSeconds`: whole seconds, 60 s to 30 days. */
export const TtlSecondsSchema = z.number().int().min(LIMITS.minTtlSeconds).max(LIMITS.maxTtlSeconds);

const isoUtc = z.iso.datetime({ offset: false });
const jsonObject = z.record(z.string(), z.unknown());

/**
 * Why `value` cannot be stored as JSON and read back as it is, or `null` when it can: a cycle, a
 * `BigInt`, a Symbol-keyed property, nesting deeper than `maxDepth` levels, or a getter or `toJSON`
 * that throws. (Functions, `undefined` and Symbol values are dropped by `JSON.stringify`, as everywhere.)
 * Never throws; recursion is bounded by `maxDepth`.
 */
export function jsonProblemOf(value: unknown, maxDepth: number = LIMITS.jsonDepth): string | null {
  try {
    const found = walkJson(value, maxDepth, new Set(), new Set());
    if (found !== null)
      return found.path.length === 0 ? found.problem : `at \`${found.path.reverse().join('.')}\` ${found.problem}`;
    JSON.stringify(value);
    return null;
  } catch (error) {
    return `cannot be turned into JSON (${error instanceof Error ? error.name : 'a thrown value'})`;
  }
}

/** Depth-first check of {@link jsonProblemOf}; the path comes back innermost key first. */
function walkJson(
  value: unknown,
  depthLeft: number,
  ancestors: Set<object>,
  done: Set<object>,
): { path: string[]; problem: string } | null {
  if (typeof value === 'bigint') return { path: [], problem: 'holds a BigInt, which JSON cannot store' };
  if (typeof value !== 'object' || value === null || done.has(value)) return null;
  if (ancestors.has(value)) return { path: [], problem: 'refers to itself (a cycle), which JSON cannot store' };
  if (depthLeft <= 0) return { path: [], problem: 'nests objects or arrays too deeply' };
  if (Object.getOwnPropertySymbols(value).length > 0)
    return { path: [], problem: 'has Symbol keys, which JSON cannot store' };
  ancestors.add(value);
  for (const key of Object.keys(value)) {
    const found = walkJson((value as Record<string, unknown>)[key], depthLeft - 1, ancestors, done);
    if (found !== null) {
      found.path.push(key);
      return found;
    }
  }
  ancestors.delete(value);
  done.add(value);
  return null;
}

/**
 * A schema of an object that JSON stores as it is ({@link jsonProblemOf}), checked before anything
 * else looks at it (so a cycle or a Symbol key is an issue, never a thrown `TypeError`); then `inner`.
 */
export function jsonSafe<T extends z.ZodType>(inner: T, what: string): z.ZodType<z.output<T>, z.input<T>> {
  const checked = z
    .unknown()
    .superRefine((value, ctx) => {
      const problem = jsonProblemOf(value);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: `${what} ${problem}` });
    })
    .pipe(inner);
  // The input type stays `inner`'s, so callers' types do not widen to `unknown`.
  return checked as unknown as z.ZodType<z.output<T>, z.input<T>>;
}

/** Bytes of `value` as JSON (UTF-8). */
function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

/** A JSON object no larger than `maxBytes` (and storable as JSON: see {@link jsonSafe}). */
export function boundedObject(maxBytes: number, what: string) {
  return jsonSafe(jsonObject, what).refine((value) => jsonBytes(value) <= maxBytes, {
    message: `${what} must be at most ${maxBytes} bytes as JSON`,
    params: { code: 'PAYLOAD_TOO_LARGE' },
  });
}

/** `{ name, current, total, description? }`; `current` is 1-based and at most `total`. */
export const StageSchema = z
  .object({
    name: z.string().min(1).max(LIMITS.stageNameChars),
    current: z.number().int().min(1),
    total: z.number().int().min(1),
    description: z.string().max(LIMITS.stageDescriptionChars).optional(),
  })
  .strict()
  .refine((stage) => stage.current <= stage.total, {
    message: 'stage.current must be at most stage.total',
    path: ['current'],
  });

type _StageProven = Proven<Exactly<z.infer<typeof StageSchema>, Stage>>;

/** `{ position, total?, queueName? }`; 1-based. */
export const QueueInfoSchema = z
  .object({
    position: z.number().int().min(1),
    total: z.number().int().min(1).optional(),
    // A display name (Seenn-only jobs name any queue of theirs), so `:` is allowed; the length bound is the BullMQ one.
    queueName: z.string().min(1).max(LIMITS.queueNameChars).optional(),
    /** Our addition: why the queue is not moving (`paused`, `rate-limited`), when it is not. */
    state: z.enum(['paused', 'rate-limited']).optional(),
  })
  .strict();

type _QueueInfoProven = Proven<Exactly<z.infer<typeof QueueInfoSchema>, QueueInfo>>;

/** `{ code, message, details? }`; `details` is always an object. */
export const JobErrorSchema = z
  .object({
    code: z.string().min(1).max(100),
    message: z.string().max(LIMITS.errorMessageChars),
    details: jsonObject.optional(),
  })
  .strict();

type _JobErrorProven = Proven<Exactly<z.infer<typeof JobErrorSchema>, JobError>>;

/** A child's link to its parent. */
export const ParentLinkSchema = z
  .object({ parentJobId: z.string().min(1), childIndex: z.number().int().min(0) })
  .strict();

type _ParentLinkProven = Proven<Exactly<z.infer<typeof ParentLinkSchema>, ParentLink>>;

/** A parent's children counters; `pending` includes children not created yet. */
export const ChildrenStatsSchema = z
  .object({
    total: z.number().int().min(0),
    completed: z.number().int().min(0),
    failed: z.number().int().min(0),
    running: z.number().int().min(0),
    pending: z.number().int().min(0),
  })
  .strict();

type _ChildrenStatsProven = Proven<Exactly<z.infer<typeof ChildrenStatsSchema>, ChildrenStats>>;

/** Our addition: the attempt running now (or next to run) and how many BullMQ allows. */
export const AttemptSchema = z.object({ current: z.number().int().min(1), max: z.number().int().min(1) }).strict();

type _AttemptProven = Proven<Exactly<z.infer<typeof AttemptSchema>, Attempt>>;

/** The Seenn job object, exactly as it goes over the wire. */
export const SeennJobSchema = z
  .object({
    id: z.string().min(1),
    jobId: z.string().min(1),
    appId: z.string().min(1),
    userId: z.string().min(1).max(LIMITS.userIdChars),
    jobType: z.string().min(1).max(LIMITS.jobTypeChars),
    title: z.string().min(1).max(LIMITS.titleChars),
    status: z.enum(JOB_STATUSES),
    progress: z.number().int().min(0).max(100),
    message: z.string().max(LIMITS.messageChars).optional(),
    stage: StageSchema.optional(),
    queue: QueueInfoSchema.optional(),
    result: jsonObject.optional(),
    error: JobErrorSchema.optional(),
    metadata: jsonObject.optional(),
    estimatedCompletionAt: isoUtc.optional(),
    etaConfidence: z.number().min(0).max(1).optional(),
    etaBasedOn: z.number().int().min(0).optional(),
    workflowId: z.string().min(1).max(LIMITS.jobTypeChars).optional(),
    attempt: AttemptSchema.optional(),
    createdAt: isoUtc,
    updatedAt: isoUtc,
    startedAt: isoUtc.optional(),
    completedAt: isoUtc.optional(),
    parent: ParentLinkSchema.optional(),
    children: ChildrenStatsSchema.optional(),
    childProgressMode: z.enum(CHILD_PROGRESS_MODES).optional(),
  })
  .strict();

type _SeennJobProven = Proven<Exactly<z.infer<typeof SeennJobSchema>, SeennJob>>;

/**
 * {@link SeennJobSchema} as the package exports it: the same object, typed as a Standard Schema so the
 * published declarations name no zod type. `schema['~standard'].validate(value)` checks a job object.
 */
export const PublicSeennJobSchema: StandardSchemaV1<SeennJob> = SeennJobSchema;

/** Formats epoch milliseconds as ISO-8601 UTC with `Z`. */
export function isoTime(ms: number): string {
  // Events come in bursts of the same millisecond: the last answer is kept.
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}
let lastIsoMs = Number.NaN;
let lastIso = '';
