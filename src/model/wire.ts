/**
 * The Seenn job object of PROTOCOL.md as plain TypeScript, and the constants of the wire: statuses,
 * child-progress modes and the SSE event names (those that carry a job, which status each announces,
 * `child.progress` and `job.output`). No zod and no I/O here, so the
 * client (browser and React) shares these with the server instead of copying them, and the published
 * declarations name no zod type. `job.ts` holds the schemas and proves, at compile time, that each
 * schema parses to exactly the type written here.
 */

/** Every Seenn status, in lifecycle order. */
export const JOB_STATUSES = ['pending', 'queued', 'running', 'completed', 'failed', 'cancelled'] as const;

/** A Seenn job status. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/** The statuses after which a job never changes again. */
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);

/** Whether `status` is final. */
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/** The three ways a parent's progress is computed from its children. */
export const CHILD_PROGRESS_MODES = ['average', 'sequential', 'weighted'] as const;

/** How a parent's progress is computed from its children. */
export type ChildProgressMode = (typeof CHILD_PROGRESS_MODES)[number];

/** The SSE event names that carry a full job object. */
export const JOB_EVENT_NAMES = [
  'job.sync',
  'job.started',
  'job.progress',
  'job.completed',
  'job.failed',
  'job.cancelled',
] as const;

/** An SSE event name that carries a full job object. */
export type JobEventName = (typeof JOB_EVENT_NAMES)[number];

/**
 * The event a change to `status` is announced with (the Seenn SDKs' own mapping). Clients replace
 * their copy of the job with the payload whatever the name.
 */
export function eventNameForStatus(status: JobStatus): Exclude<JobEventName, 'job.sync'> {
  switch (status) {
    case 'pending':
    case 'queued':
      return 'job.started';
    case 'running':
      return 'job.progress';
    case 'completed':
      return 'job.completed';
    case 'failed':
      return 'job.failed';
    case 'cancelled':
      return 'job.cancelled';
  }
}

/** The SSE event that announces a parent's new progress and counters when its status stays. */
export const CHILD_PROGRESS_EVENT = 'child.progress';

/** The SSE event that carries one chunk of a job's output (`{ jobId, stream, seq, chunk }`). */
export const OUTPUT_EVENT = 'job.output';

/**
 * Compares two Redis stream ids (`<ms>-<seq>`: replay-stream entry ids, which are the SSE `id:`, and
 * BullMQ event ids) numerically: negative, zero or positive. Exact while both parts stay below 2^53.
 */
export function compareStreamIds(a: string, b: string): number {
  if (a === b) return 0;
  // Allocation-free (the publisher compares ids for every event): `ms-seq`, or a bare `ms`.
  const aCut = a.indexOf('-');
  const bCut = b.indexOf('-');
  const byMs = Number(aCut < 0 ? a : a.slice(0, aCut)) - Number(bCut < 0 ? b : b.slice(0, bCut));
  if (byMs !== 0) return byMs;
  return (aCut < 0 ? 0 : Number(a.slice(aCut + 1))) - (bCut < 0 ? 0 : Number(b.slice(bCut + 1)));
}

/** The epoch ms of a Redis stream id (`<ms>-<seq>`). */
export function streamIdTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** A job's stage within its run: `{ name, current, total, description? }`; `current` is 1-based and at most `total`. */
export interface Stage {
  name: string;
  current: number;
  total: number;
  description?: string | undefined;
}

/** A waiting job's place in its queue: `{ position, total?, queueName? }`, 1-based. */
export interface QueueInfo {
  position: number;
  total?: number | undefined;
  queueName?: string | undefined;
  /** Our addition: why the queue is not moving (`paused`, `rate-limited`), when it is not. */
  state?: 'paused' | 'rate-limited' | undefined;
}

/** Why a job failed: `{ code, message, details? }`; `details` is always an object. */
export interface JobError {
  code: string;
  message: string;
  details?: Record<string, unknown> | undefined;
}

/** A child's link to its parent: `{ parentJobId, childIndex }` (0-based). */
export interface ParentLink {
  parentJobId: string;
  childIndex: number;
}

/** A parent's children counters; `pending` includes children not created yet. */
export interface ChildrenStats {
  total: number;
  completed: number;
  failed: number;
  running: number;
  pending: number;
}

/** Our addition: the attempt running now (or next to run) and how many BullMQ allows. */
export interface Attempt {
  current: number;
  max: number;
}

/** A Seenn job object, exactly as it goes over the wire. Optional fields are absent, never `null`. */
export interface SeennJob {
  id: string;
  jobId: string;
  appId: string;
  userId: string;
  jobType: string;
  title: string;
  status: JobStatus;
  /** An integer from 0 to 100. */
  progress: number;
  message?: string | undefined;
  stage?: Stage | undefined;
  queue?: QueueInfo | undefined;
  result?: Record<string, unknown> | undefined;
  error?: JobError | undefined;
  metadata?: Record<string, unknown> | undefined;
  /** ISO-8601 UTC with `Z`, like every timestamp here. */
  estimatedCompletionAt?: string | undefined;
  etaConfidence?: number | undefined;
  etaBasedOn?: number | undefined;
  workflowId?: string | undefined;
  attempt?: Attempt | undefined;
  createdAt: string;
  updatedAt: string;
  startedAt?: string | undefined;
  completedAt?: string | undefined;
  parent?: ParentLink | undefined;
  children?: ChildrenStats | undefined;
  childProgressMode?: ChildProgressMode | undefined;
}

/** One row of `GET /jobs/:parentId/children`. */
export interface ChildJobSummary {
  id: string;
  childIndex: number;
  title: string;
  status: JobStatus;
  progress: number;
  message?: string;
  result?: Record<string, unknown>;
  error?: JobError;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
}

/** The answer of `GET /jobs/:parentId/children`: the parent job and its children as summaries, by `childIndex`. */
export interface ParentWithChildSummaries {
  parent: SeennJob;
  children: ChildJobSummary[];
}

/**
 * The row of `GET /jobs/:parentId/children` that a child's job object stands for. `childIndex`
 * defaults to the job's own `parent.childIndex` (0 when it has no parent link).
 */
export function childSummaryOf(job: SeennJob, childIndex = job.parent?.childIndex ?? 0): ChildJobSummary {
  const summary: ChildJobSummary = {
    id: job.id,
    childIndex,
    title: job.title,
    status: job.status,
    progress: job.progress,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
  if (job.message !== undefined) summary.message = job.message;
  if (job.result !== undefined) summary.result = job.result;
  if (job.error !== undefined) summary.error = job.error;
  if (job.completedAt !== undefined) summary.completedAt = job.completedAt;
  return summary;
}
