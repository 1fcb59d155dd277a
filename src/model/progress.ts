/**
 * The progress payload the worker wrapper writes through BullMQ's `job.updateProgress`, and the
 * validated options of `job.setProgress`. One object carries everything a user sees, so it rides
 * BullMQ's own hash and events stream and needs no second channel.
 */
import { z } from 'zod';
import {
  IsoTimeInputSchema,
  JobErrorSchema,
  LIMITS,
  QueueInfoSchema,
  StageSchema,
  boundedObject,
  type Exactly,
  type JobError,
  type Proven,
  type QueueInfo,
  type Stage,
} from './job.js';
import type { ProgressUpdate } from './updates.js';

/** The marker field that tells our payload from any other progress value. */
export const PROGRESS_MARKER = 'seenn';

/** Options of `job.setProgress(progress, options)`. */
export const SetProgressOptionsSchema = z
  .object({
    message: z.string().max(LIMITS.messageChars).optional(),
    stage: StageSchema.optional(),
    queue: QueueInfoSchema.optional(),
    estimatedCompletionAt: IsoTimeInputSchema.optional(),
    metadata: boundedObject(LIMITS.metadataBytes, 'metadata').optional(),
  })
  .strict();

/** Options of `job.setProgress` as a caller writes them. */
export interface SetProgressOptions {
  message?: string | undefined;
  stage?: Stage | undefined;
  queue?: QueueInfo | undefined;
  /** ISO-8601 (any offset) or a `Date`; stored as ISO-8601 UTC. */
  estimatedCompletionAt?: string | Date | undefined;
  metadata?: Record<string, unknown> | undefined;
}

type _SetProgressOptionsProven = Proven<Exactly<z.input<typeof SetProgressOptionsSchema>, SetProgressOptions>>;

/** `progress`: a finite number from 0 to 100 (stored rounded to an integer). */
export const ProgressValueSchema = z.number().finite().min(0).max(100);

/**
 * A schema check that throws a coded error: `parseOrThrow` of `src/options.ts` (a module model/ may not
 * import), handed in by the caller.
 */
export type ParseOrThrow = <T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
  code: 'VALIDATION_ERROR',
) => z.output<T>;

/**
 * Validates the arguments of `setProgress(progress, options)`, the same for the worker's
 * `job.setProgress`, a handle's and `POST /jobs/:id/progress`: a finite number from 0 to 100 (rounded,
 * clamped) and {@link SetProgressOptionsSchema}; throws a `VALIDATION_ERROR` or `PAYLOAD_TOO_LARGE`.
 */
export function parseSetProgress(progress: unknown, options: unknown, parse: ParseOrThrow): ProgressUpdate {
  const value = parse(ProgressValueSchema, progress, 'progress (a finite number from 0 to 100)', 'VALIDATION_ERROR');
  const parsed = parse(SetProgressOptionsSchema, options ?? {}, 'setProgress options', 'VALIDATION_ERROR');
  const update: ProgressUpdate = { progress: clampProgress(value) };
  if (parsed.message !== undefined) update.message = parsed.message;
  if (parsed.stage !== undefined) update.stage = parsed.stage;
  if (parsed.queue !== undefined) update.queue = parsed.queue;
  if (parsed.estimatedCompletionAt !== undefined) update.estimatedCompletionAt = parsed.estimatedCompletionAt;
  if (parsed.metadata !== undefined) update.metadata = parsed.metadata;
  return update;
}

/** The payload stored as BullMQ progress by wrapped processors. */
export interface ProgressPayload {
  /** Marker and format version. */
  [PROGRESS_MARKER]: 1;
  /** `job.attemptsStarted` when written: payloads of an earlier attempt are ignored. */
  attempt: number;
  progress: number;
  message?: string;
  stage?: Stage;
  queue?: QueueInfo;
  estimatedCompletionAt?: string;
  metadata?: Record<string, unknown>;
  /** Set when the attempt threw: the error as the user should see it if this was the last attempt. */
  error?: JobError;
}

const ProgressPayloadSchema = z
  .object({
    [PROGRESS_MARKER]: z.literal(1),
    attempt: z.number().int().min(0),
    progress: z.number().int().min(0).max(100),
    message: z.string().optional(),
    stage: StageSchema.optional(),
    queue: QueueInfoSchema.optional(),
    estimatedCompletionAt: z.string().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    error: JobErrorSchema.optional(),
  })
  .loose();

/**
 * Reads a BullMQ progress value: our payload, or a bare number (plain workers calling
 * `job.updateProgress(42)`), or `null` for anything else (which changes nothing a user sees).
 */
export function parseProgressValue(value: unknown): ProgressPayload | { progress: number } | null {
  if (typeof value === 'number' && Number.isFinite(value)) return { progress: clampProgress(value) };
  if (typeof value === 'object' && value !== null && PROGRESS_MARKER in value) {
    const simple = simplePayload(value as Record<string, unknown>);
    if (simple !== null) return simple;
    const parsed = ProgressPayloadSchema.safeParse(value);
    if (!parsed.success) return null;
    const payload = parsed.data;
    const result: ProgressPayload = { [PROGRESS_MARKER]: 1, attempt: payload.attempt, progress: payload.progress };
    if (payload.message !== undefined) result.message = payload.message;
    if (payload.stage !== undefined) result.stage = payload.stage;
    if (payload.queue !== undefined) result.queue = payload.queue;
    if (payload.estimatedCompletionAt !== undefined) result.estimatedCompletionAt = payload.estimatedCompletionAt;
    if (payload.metadata !== undefined) result.metadata = payload.metadata;
    if (payload.error !== undefined) result.error = payload.error;
    return result;
  }
  return null;
}

/**
 * The common payload — marker, attempt, progress and at most a message — checked by hand, exactly as
 * {@link ProgressPayloadSchema} would check it (the publisher reads one per progress event); `null`
 * for anything else, which the schema then decides.
 */
function simplePayload(value: Record<string, unknown>): ProgressPayload | null {
  let keys = 0;
  for (const key in value) {
    if (key !== PROGRESS_MARKER && key !== 'attempt' && key !== 'progress' && key !== 'message') return null;
    keys += 1;
  }
  const { attempt, progress, message } = value;
  if (value[PROGRESS_MARKER] !== 1 || !Number.isSafeInteger(attempt) || !Number.isSafeInteger(progress)) return null;
  if ((attempt as number) < 0 || (progress as number) < 0 || (progress as number) > 100) return null;
  if (message !== undefined && typeof message !== 'string') return null;
  const result: ProgressPayload = { [PROGRESS_MARKER]: 1, attempt: attempt as number, progress: progress as number };
  if (message !== undefined) result.message = message;
  return keys > 0 ? result : null;
}

/** Rounds to an integer and clamps to 0–100 (the Flutter SDK rejects fractions). */
export function clampProgress(value: number): number {
  return Math.min(100, Math.max(0, Math.round(value)));
}
