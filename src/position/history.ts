/**
 * Run history for ETAs, kept in Redis:
 * - `<base>:eta:<workflowId>:runs`: list of the newest run durations (ms) of one workflow
 *   (`workflowId`, defaulting to `jobType`), `LPUSH` + `LTRIM` to `durationSamples`;
 * - `<base>:q:<queueName>:done`: list of the newest completion times (epoch ms) of one queue,
 *   `LPUSH` + `LTRIM` to `throughputSamples`, for its throughput.
 * Each key is touched alone (no multi-key script), so any Cluster slot works. Both expire
 * `historySeconds` after the last completion.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { SeennError } from '../errors.js';
import { LIMITS } from '../model/job.js';
import { parseOrThrow } from '../options.js';
import type { SeennKeys } from '../store/keys.js';
import { resolveHistoryOptions, type HistoryOptions, type ResolvedHistoryOptions } from './options.js';

/** A finished job, as {@link recordCompletion} takes it. */
export interface Completion {
  /** The BullMQ queue the job ran in (counts toward its throughput). */
  queueName: string;
  /** When the job finished, epoch ms. */
  finishedAtMs: number;
  /** The ETA key: the job's `workflowId`, else its `jobType`. Absent: only throughput is recorded. */
  workflowId?: string;
  /** How long the successful run took, ms (BullMQ `finishedOn − processedOn`). Absent: only throughput. */
  durationMs?: number;
}

const CompletionSchema = z
  .object({
    queueName: z.string().min(1).max(200).regex(/^[^:]+$/, 'queue names cannot contain ":"'),
    finishedAtMs: z.number().int().positive(),
    workflowId: z.string().min(1).max(LIMITS.jobTypeChars).optional(),
    durationMs: z.number().finite().min(0).max(365 * 24 * 3600 * 1000).optional(),
  })
  .strict();

/** The key of a workflow's run durations. */
export function runsKey(keys: SeennKeys, workflowId: string): string {
  return `${keys.base}:eta:${workflowId}:runs`;
}

/** The key of a queue's completion times. */
export function completionsKey(keys: SeennKeys, queueName: string): string {
  return `${keys.base}:q:${queueName}:done`;
}

/**
 * Records one finished job for ETAs: its completion time toward the queue's throughput and, when
 * `workflowId` and `durationMs` are given, its run time toward the workflow's durations. One
 * pipelined round trip. Bad input throws a `VALIDATION_ERROR` and records nothing.
 *
 * Call it once per job that finished (completed, or failed for good: both free a worker; give
 * `durationMs` for completed runs only), after the store accepted the change, so a replayed event is
 * not counted twice.
 *
 * @example
 * ```ts
 * await recordCompletion(ctx.redis, ctx.keys, {
 *   queueName: 'video', finishedAtMs: finishedOn, workflowId: job.workflowId ?? job.jobType, durationMs: finishedOn - processedOn,
 * });
 * ```
 */
export async function recordCompletion(redis: Redis, keys: SeennKeys, completion: Completion, options: HistoryOptions = {}): Promise<void> {
  const parsed = parseOrThrow(CompletionSchema, completion, 'completion', 'VALIDATION_ERROR');
  const settings = resolveHistoryOptions(options);
  const ttlMs = settings.historySeconds * 1000;
  const pipeline = redis.pipeline();
  const done = completionsKey(keys, parsed.queueName);
  pipeline.lpush(done, parsed.finishedAtMs).ltrim(done, 0, settings.throughputSamples - 1).pexpire(done, ttlMs);
  if (parsed.workflowId !== undefined && parsed.durationMs !== undefined) {
    const runs = runsKey(keys, parsed.workflowId);
    pipeline.lpush(runs, Math.round(parsed.durationMs)).ltrim(runs, 0, settings.durationSamples - 1).pexpire(runs, ttlMs);
  }
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([error]) => error !== null);
  if (failed) throw new SeennError('STORE_ERROR', 'could not record a completion', { cause: failed[0] });
}

/** Recent history of some workflows and queues. */
export interface History {
  /** Run durations (ms) per workflow id, newest first. */
  durations: Map<string, number[]>;
  /** Completion times (epoch ms) per queue, newest first. */
  completions: Map<string, number[]>;
}

/** Reads the history of `workflows` and `queues` in one pipelined round trip. */
export async function readHistory(redis: Redis, keys: SeennKeys, wanted: { workflows: Iterable<string>; queues: Iterable<string> }, settings: ResolvedHistoryOptions): Promise<History> {
  const workflows = [...new Set(wanted.workflows)];
  const queues = [...new Set(wanted.queues)];
  const history: History = { durations: new Map(), completions: new Map() };
  if (workflows.length + queues.length === 0) return history;
  const pipeline = redis.pipeline();
  for (const workflow of workflows) pipeline.lrange(runsKey(keys, workflow), 0, settings.durationSamples - 1);
  for (const queue of queues) pipeline.lrange(completionsKey(keys, queue), 0, settings.throughputSamples - 1);
  const replies = (await pipeline.exec()) ?? [];
  replies.forEach(([error, value], i) => {
    if (error) throw new SeennError('STORE_ERROR', 'could not read ETA history', { cause: error });
    const numbers = (value as string[]).map(Number).filter(Number.isFinite);
    if (i < workflows.length) history.durations.set(workflows[i] as string, numbers);
    else history.completions.set(queues[i - workflows.length] as string, numbers);
  });
  return history;
}
