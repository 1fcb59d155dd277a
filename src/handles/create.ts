/**
 * Seenn-only jobs: jobs no BullMQ worker runs, driven by their handle (or the REST write routes), as in
 * Seenn. They start `pending`, turn `running` with the first progress, and end `completed`, `failed`
 * or `cancelled`. A Seenn-only parent's children may be Seenn-only too; the parent then completes by
 * itself when they have all finished. First snapshots go through the store's one commit path, like
 * every change (a `job.started` replay entry and live event).
 */
import { z } from 'zod';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { ChildPlaceSchema, ChildWeightSchema, JobFieldsSchema } from '../model/descriptor.js';
import { newJobId } from '../model/ids.js';
import {
  CHILD_PROGRESS_MODES,
  IsoTimeInputSchema,
  LIMITS,
  QueueInfoSchema,
  StageSchema,
  TtlSecondsSchema,
  isoTime,
  type ChildProgressMode,
  type QueueInfo,
  type SeennJob,
  type Stage,
} from '../model/job.js';
import { asParent, type ParentSpec } from '../model/parent.js';
import { jobEventOf, pendingRecord, type JobRecord } from '../model/record.js';
import { parseOrThrow } from '../options.js';
import type { JobStore } from '../store/job-store.js';
import { commitNewChild, withParentChanges } from '../store/family.js';
import { notFound } from './write.js';

/** What creating Seenn-only jobs uses of the Seenn context. */
export type CreateDeps = Pick<SeennContext, 'store' | 'options'>;

/** What a Seenn-only job starts with (the fields of Seenn's `POST /jobs`). */
export interface SeennOnlyJobInput {
  /** The user who sees the job. */
  userId: string;
  /** The job's type. */
  jobType: string;
  /** What the user sees the job as. */
  title: string;
  /** Shown to the user with the job (at most 10 KB as JSON). */
  metadata?: Record<string, unknown>;
  /** The ETA key (defaults to `jobType`). */
  workflowId?: string;
  /** Seenn's backend-supplied queue place `{ position, total?, queueName? }` (1-based). */
  queue?: QueueInfo;
  /** The job's stage `{ name, current, total, description? }`. */
  stage?: Stage;
  /** A status text. */
  message?: string;
  /** When the job is expected to finish (ISO-8601 with offset, or a `Date`); overrides any computed ETA. */
  estimatedCompletionAt?: string | Date;
  /** Expected run time in ms (1 s to 24 h): the ETA when no `estimatedCompletionAt` is given. */
  estimatedDuration?: number;
  /**
   * Seenn's per-job TTL, 60 s to 30 days: how long the job stays readable once it has ended
   * (completed, failed or cancelled); then it answers 404 and leaves lists and `job.sync`. A child
   * without one takes its parent's, and never outlives it (capped at the parent's). Without it, the
   * store's `retention.finishedJobSeconds` applies.
   */
  ttlSeconds?: number;
}

/** Validates {@link SeennOnlyJobInput}. */
export const SeennOnlyJobSchema = JobFieldsSchema.extend({
  queue: QueueInfoSchema.optional(),
  stage: StageSchema.optional(),
  message: z.string().max(LIMITS.messageChars).optional(),
  estimatedCompletionAt: IsoTimeInputSchema.optional(),
  estimatedDuration: z.number().int().min(1_000).max(86_400_000).optional(),
  ttlSeconds: TtlSecondsSchema.optional(),
}).strict();

type ParsedSeennOnlyJob = z.output<typeof SeennOnlyJobSchema>;

/** The confidence shown with an ETA that only `estimatedDuration` gave. */
const DURATION_ETA_CONFIDENCE = 0.2;

/** The first record of a Seenn-only job: `pending`, progress 0, no BullMQ queue. */
export function seennOnlyRecord(id: string, appId: string, input: ParsedSeennOnlyJob, createdAtMs: number): JobRecord {
  const record = pendingRecord(id, appId, input, createdAtMs);
  const { job } = record;
  if (input.queue !== undefined) job.queue = input.queue;
  if (input.stage !== undefined) job.stage = input.stage;
  if (input.message !== undefined) job.message = input.message;
  if (input.estimatedCompletionAt !== undefined) {
    job.estimatedCompletionAt = input.estimatedCompletionAt;
  } else if (input.estimatedDuration !== undefined) {
    job.estimatedCompletionAt = isoTime(createdAtMs + input.estimatedDuration);
    job.etaConfidence = DURATION_ETA_CONFIDENCE;
    job.etaBasedOn = 0;
  }
  if (input.ttlSeconds !== undefined) record.x.ttlSeconds = input.ttlSeconds;
  return record;
}

/** Commits the first snapshots of new jobs of one user (owners first); `STORE_ERROR` if refused. */
async function commitNew(
  store: JobStore,
  userId: string,
  records: readonly JobRecord[],
  parentId?: string,
): Promise<JobRecord[]> {
  await store.setOwners(
    userId,
    records.map((record) => record.job.id),
  );
  const children = records.filter((record) => record.job.id !== parentId);
  const parent = records.find((record) => record.job.id === parentId);
  const changes =
    parent === undefined
      ? records.map((record) => ({ expectedVersion: 0, record, event: jobEventOf(record.job), index: true }))
      : withParentChanges(
          children.map((record) => ({
            change: { expectedVersion: 0, record, event: jobEventOf(record.job), index: true },
            previous: null,
          })),
          { record: parent, version: 0 },
          Date.parse(parent.job.createdAt),
        );
  const answer = await store.commitNew(userId, changes);
  if (answer.status !== 'ok')
    throw new SeennError(
      'STORE_ERROR',
      `the first snapshot of job ${records[0]?.job.id ?? ''} was refused (${answer.status})`,
    );
  return changes.map((change) => change.record);
}

/** Starts a Seenn-only job (see the module comment). Bad input throws a coded error and writes nothing. */
export async function startSeennOnlyJob(deps: CreateDeps, input: SeennOnlyJobInput): Promise<SeennJob> {
  const parsed = parseOrThrow(SeennOnlyJobSchema, input, 'jobs.start input', 'VALIDATION_ERROR');
  const [record] = await commitNew(deps.store, parsed.userId, [
    seennOnlyRecord(newJobId(), deps.options.appId, parsed, Date.now()),
  ]);
  return (record as JobRecord).job;
}

/** How a Seenn-only parent counts its children. */
export interface SeennOnlyParentSpec {
  childCount: number;
  childProgressMode?: ChildProgressMode;
  failParentOnChildFailure?: boolean;
}

const ParentSpecSchema = z
  .object({
    childCount: z.number().int().min(1).max(LIMITS.maxChildren),
    childProgressMode: z.enum(CHILD_PROGRESS_MODES).default('average'),
    failParentOnChildFailure: z.boolean().default(true),
  })
  .strict();

/** Creates a Seenn-only parent expecting `spec.childCount` children, none created yet. */
export async function createSeennOnlyParent(
  deps: CreateDeps,
  input: SeennOnlyJobInput,
  spec: SeennOnlyParentSpec,
): Promise<SeennJob> {
  const parsed = parseOrThrow(SeennOnlyJobSchema, input, 'parent input', 'VALIDATION_ERROR');
  const family = parseOrThrow(ParentSpecSchema, spec, 'parent input', 'VALIDATION_ERROR');
  const parentSpec: ParentSpec = {
    total: family.childCount,
    mode: family.childProgressMode,
    failParentOnChildFailure: family.failParentOnChildFailure,
  };
  const [record] = await commitNew(deps.store, parsed.userId, [
    asParent(seennOnlyRecord(newJobId(), deps.options.appId, parsed, Date.now()), parentSpec),
  ]);
  return (record as JobRecord).job;
}

/** Where a Seenn-only child goes. */
export interface SeennOnlyChildLink {
  parentJobId: string;
  childIndex: number;
  /** The child's weight under `weighted` mode. @defaultValue 1 */
  weight?: number;
}

const ChildLinkSchema = ChildPlaceSchema.extend({ weight: ChildWeightSchema.optional() }).strict();

/**
 * Creates Seenn-only child `childIndex` of a Seenn-only parent, committed with the parent's counters.
 * Throws `NOT_FOUND` (`details.id`) for an unknown parent; `VALIDATION_ERROR` for a job that is no
 * Seenn-only parent, another user's parent, or an index at or above its `childCount`; `CONFLICT` when
 * the index is taken — each before anything is written.
 */
export async function createSeennOnlyChild(
  deps: CreateDeps,
  input: SeennOnlyJobInput,
  link: SeennOnlyChildLink,
): Promise<SeennJob> {
  const parsed = parseOrThrow(SeennOnlyJobSchema, input, 'child input', 'VALIDATION_ERROR');
  const { parentJobId, childIndex, weight } = parseOrThrow(ChildLinkSchema, link, 'child input', 'VALIDATION_ERROR');
  const found = await deps.store.readById(parentJobId);
  if (found === null) throw notFound(parentJobId);
  const { job: parentJob, x } = found.record;
  const details = { parentJobId, childIndex };
  if (x.aggregate === undefined)
    throw new SeennError('VALIDATION_ERROR', `job ${parentJobId} is not a parent`, { details });
  if (x.queueName !== undefined)
    throw new SeennError(
      'VALIDATION_ERROR',
      `job ${parentJobId} is a BullMQ flow parent; its children come with the flow`,
      { details },
    );
  if (parentJob.userId !== parsed.userId)
    throw new SeennError('VALIDATION_ERROR', "a child must belong to its parent's user", { details });
  if (childIndex >= x.aggregate.total)
    throw new SeennError(
      'VALIDATION_ERROR',
      `childIndex ${childIndex} is out of range: parent ${parentJobId} expects ${x.aggregate.total} children`,
      { details: { ...details, childCount: x.aggregate.total } },
    );
  const userId = parsed.userId;
  const record = seennOnlyRecord(newJobId(), deps.options.appId, parsed, Date.now());
  record.job.parent = { parentJobId, childIndex };
  const ttlSeconds = childTtlSeconds(parsed.ttlSeconds, x.ttlSeconds);
  if (ttlSeconds !== undefined) record.x.ttlSeconds = ttlSeconds;
  if (weight !== undefined) record.x.weight = weight;
  await deps.store.setOwners(userId, [record.job.id]);
  const outcome = await commitNewChild(deps.store, record).catch(async (error: unknown) => {
    await deps.store.releaseOwners([record.job.id]);
    throw error;
  });
  if (outcome !== 'committed') {
    await deps.store.releaseOwners([record.job.id]);
    if (outcome === 'no-parent') throw notFound(parentJobId);
    if (outcome === 'index-taken')
      throw new SeennError('CONFLICT', `parent ${parentJobId} already has a child at index ${childIndex}`, { details });
    throw new SeennError('STORE_ERROR', `parent ${parentJobId} kept changing while a child was added`, {
      details: { parentJobId },
    });
  }
  return record.job;
}

/** A child's `ttlSeconds`: its own, capped at its parent's; its parent's when it has none. */
function childTtlSeconds(own: number | undefined, parents: number | undefined): number | undefined {
  if (own === undefined) return parents;
  return parents === undefined ? own : Math.min(own, parents);
}

/** A Seenn-only batch: the parent and its children by `childIndex`. */
export interface SeennOnlyBatch {
  parent: SeennJob;
  children: SeennJob[];
}

/**
 * Creates a Seenn-only parent and its Seenn-only children (one per title) in ONE commit. Children
 * share the parent's user and type; metadata and `workflowId` stay on the parent.
 */
export async function createSeennOnlyBatch(
  deps: CreateDeps,
  input: SeennOnlyJobInput,
  spec: Omit<SeennOnlyParentSpec, 'childCount'>,
  childTitles: readonly string[],
): Promise<SeennOnlyBatch> {
  const parsed = parseOrThrow(SeennOnlyJobSchema, input, 'jobs.createBatch input', 'VALIDATION_ERROR');
  const family = parseOrThrow(
    ParentSpecSchema,
    { ...spec, childCount: childTitles.length },
    'jobs.createBatch input',
    'VALIDATION_ERROR',
  );
  const nowMs = Date.now();
  const parentSpec: ParentSpec = {
    total: family.childCount,
    mode: family.childProgressMode,
    failParentOnChildFailure: family.failParentOnChildFailure,
  };
  const parent = asParent(seennOnlyRecord(newJobId(), deps.options.appId, parsed, nowMs), parentSpec);
  const children = childTitles.map((title, childIndex) => {
    const fields: SeennOnlyJobInput = { userId: parsed.userId, jobType: parsed.jobType, title };
    if (parsed.ttlSeconds !== undefined) fields.ttlSeconds = parsed.ttlSeconds;
    const child = seennOnlyRecord(
      newJobId(),
      deps.options.appId,
      parseOrThrow(SeennOnlyJobSchema, fields, 'child title', 'VALIDATION_ERROR'),
      nowMs,
    );
    child.job.parent = { parentJobId: parent.job.id, childIndex };
    return child;
  });
  const [committedParent, ...committedChildren] = await commitNew(
    deps.store,
    parsed.userId,
    [parent, ...children],
    parent.job.id,
  );
  return { parent: (committedParent as JobRecord).job, children: committedChildren.map((record) => record.job) };
}
