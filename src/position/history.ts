/**
 * Run history for ETAs, kept in Redis in the QUEUE's hash slot. Every key of one queue starts with
 * BullMQ's own `<prefix>:<queueName>:` (then `seenn:<appId>:`), so it carries the same hash tag as
 * the queue's BullMQ keys: a queue `{video}` under prefix `bull`, or any queue under prefix `{bull}`.
 * - `<root>:done`: list of the newest finish times (epoch ms) of the queue's jobs, completed or failed
 *   for good, `LPUSH` + `LTRIM` to `throughputSamples`;
 * - `<root>:runs`: list of the newest completed runs of the queue, every workflow, each
 *   `"<finishedAtMs>:<durationMs>"`, trimmed to `throughputSamples` (how the queue is served: run
 *   times, jobs running at once, the gap between one run and the next);
 * - `<root>:eta:<workflowId>:runs`: list of the newest run durations (ms) of one workflow
 *   (`workflowId`, defaulting to `jobType`) in this queue, trimmed to `durationSamples`.
 * - `<root>:etacal:…`: the ETA predictions awaiting their jobs' outcomes and the queue's calibration
 *   histogram (`calibration.ts`); a completion with a `jobId` scores that job's predictions.
 * One pipeline only ever holds keys of one queue (one slot on Redis Cluster); reads of several queues
 * are one pipeline per queue. Every key expires `historySeconds` after the queue's last completion.
 */
import type { RedisConnection } from '../store/connection.js';
import { z } from 'zod';
import { SeennError } from '../errors.js';
import { LIMITS, QueueNameSchema } from '../model/job.js';
import { parseOrThrow } from '../options.js';
import { queueHistoryRoot, type SeennKeys } from '../store/keys.js';
import { calibrationOf, scoreEtaPredictions, type CalibrationBucket, type EtaKind } from './calibration.js';
import {
  HISTORY_DEFAULTS,
  resolveHistoryOptions,
  type HistoryOptions,
  type ResolvedHistoryOptions,
} from './options.js';

// The key root lives with every other key in store/keys.ts; still exported here for position/index.ts.
export { queueHistoryRoot };

/** A finished job, as {@link recordCompletion} takes it. */
export interface Completion {
  /** The BullMQ queue the job ran in (counts toward its throughput). */
  queueName: string;
  /** When the job finished, epoch ms. */
  finishedAtMs: number;
  /** The ETA key: the job's `workflowId`, else its `jobType`. Absent: only the finish time is recorded. */
  workflowId?: string;
  /** How long the successful run took, ms (BullMQ `finishedOn − processedOn`). Absent: only the finish time. */
  durationMs?: number;
  /**
   * The job's Seenn id: the ETA predictions recorded for it in this queue are scored against
   * `finishedAtMs` into the queue's `etaConfidence` calibration (see `calibration.ts`), or dropped
   * when `failed`. Absent: no scoring.
   */
  jobId?: string;
  /** The job failed for good: its recorded predictions are dropped, not scored. @defaultValue false */
  failed?: boolean;
}

const CompletionSchema = z
  .object({
    queueName: QueueNameSchema,
    finishedAtMs: z.number().int().positive(),
    workflowId: z.string().min(1).max(LIMITS.jobTypeChars).optional(),
    durationMs: z
      .number()
      .finite()
      .min(0)
      .max(365 * 24 * 3600 * 1000)
      .optional(),
    jobId: z.string().min(1).max(512).optional(),
    failed: z.boolean().optional(),
  })
  .strict();

/**
 * The key of one workflow's run durations in one queue, or, for jobs no BullMQ queue runs (Seenn-only
 * jobs driven by handles; `queueName` undefined), `<base>:eta:<workflowId>:runs` (a key alone in its
 * slot, always read and written alone).
 */
export function runsKey(keys: SeennKeys, queueName: string | undefined, workflowId: string): string {
  return keys.etaRuns(queueName, workflowId);
}

/** The key of a queue's finish times (completed and failed jobs). */
export function completionsKey(keys: SeennKeys, queueName: string): string {
  return keys.etaCompletions(queueName);
}

/** The key of a queue's completed runs, `"<finishedAtMs>:<durationMs>"`, every workflow. */
export function queueRunsKey(keys: SeennKeys, queueName: string): string {
  return keys.etaQueueRuns(queueName);
}

/**
 * Records one finished job for ETAs: its finish time toward the queue's throughput and, when
 * `workflowId` and `durationMs` are given, its run toward the queue's and the workflow's run times.
 * With `jobId`, also scores (or, when `failed`, drops) the job's recorded ETA predictions, in one script
 * sent alongside. One round trip over keys of the queue's slot only. Bad input throws a
 * `VALIDATION_ERROR` and records nothing; a Redis error throws a `STORE_ERROR`.
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
export async function recordCompletion(
  redis: RedisConnection,
  keys: SeennKeys,
  completion: Completion,
  options: HistoryOptions = {},
): Promise<void> {
  const parsed = parseOrThrow(CompletionSchema, completion, 'completion', 'VALIDATION_ERROR');
  const settings = resolveHistoryOptions(options);
  const ttlMs = settings.historySeconds * 1000;
  const pipeline = redis.pipeline();
  const done = completionsKey(keys, parsed.queueName);
  pipeline
    .lpush(done, parsed.finishedAtMs)
    .ltrim(done, 0, settings.throughputSamples - 1)
    .pexpire(done, ttlMs);
  if (parsed.workflowId !== undefined && parsed.durationMs !== undefined) {
    const durationMs = Math.round(parsed.durationMs);
    const queueRuns = queueRunsKey(keys, parsed.queueName);
    pipeline
      .lpush(queueRuns, `${parsed.finishedAtMs}:${durationMs}`)
      .ltrim(queueRuns, 0, settings.throughputSamples - 1)
      .pexpire(queueRuns, ttlMs);
    const runs = runsKey(keys, parsed.queueName, parsed.workflowId);
    pipeline
      .lpush(runs, durationMs)
      .ltrim(runs, 0, settings.durationSamples - 1)
      .pexpire(runs, ttlMs);
  }
  let replies: [Error | null, unknown][];
  try {
    const outcome =
      parsed.jobId === undefined
        ? undefined
        : {
            queueName: parsed.queueName,
            jobId: parsed.jobId,
            finishedAtMs: parsed.finishedAtMs,
            failed: parsed.failed ?? false,
          };
    const [execReplies] = await Promise.all([
      pipeline.exec(),
      outcome === undefined ? undefined : scoreEtaPredictions(redis, keys, outcome, settings),
    ]);
    replies = execReplies ?? [];
  } catch (error) {
    throw new SeennError('STORE_ERROR', 'could not record a completion', {
      cause: error,
      details: { queueName: parsed.queueName },
    });
  }
  const failed = replies.find(([error]) => error !== null);
  if (failed)
    throw new SeennError('STORE_ERROR', 'could not record a completion', {
      cause: failed[0],
      details: { queueName: parsed.queueName },
    });
}

/**
 * Adds the commands that record `completions` — finished jobs of ONE queue, in the order they
 * finished — to `pipeline` (the keys are all in the queue's slot): one LPUSH of every value, one
 * LTRIM and one PEXPIRE per list, which leaves each list exactly as one {@link recordCompletion} per
 * job would. The input is trusted (the publisher builds it): nothing is validated here.
 */
export function addCompletions(
  pipeline: {
    lpush(key: string, ...values: (string | number)[]): unknown;
    ltrim(key: string, start: number, stop: number): unknown;
    pexpire(key: string, ms: number): unknown;
  },
  keys: SeennKeys,
  queueName: string,
  completions: readonly Completion[],
  settings: ResolvedHistoryOptions = HISTORY_DEFAULTS,
): void {
  if (completions.length === 0) return;
  const ttlMs = settings.historySeconds * 1000;
  const push = (key: string, values: (string | number)[], samples: number): void => {
    if (values.length === 0) return;
    pipeline.lpush(key, ...values);
    pipeline.ltrim(key, 0, samples - 1);
    pipeline.pexpire(key, ttlMs);
  };
  push(
    completionsKey(keys, queueName),
    completions.map((completion) => completion.finishedAtMs),
    settings.throughputSamples,
  );
  const queueRuns: string[] = [];
  const byWorkflow = new Map<string, number[]>();
  for (const { finishedAtMs, workflowId, durationMs } of completions) {
    if (workflowId === undefined || durationMs === undefined) continue;
    const rounded = Math.round(durationMs);
    queueRuns.push(`${finishedAtMs}:${rounded}`);
    const list = byWorkflow.get(workflowId);
    if (list === undefined) byWorkflow.set(workflowId, [rounded]);
    else list.push(rounded);
  }
  push(queueRunsKey(keys, queueName), queueRuns, settings.throughputSamples);
  for (const [workflowId, durations] of byWorkflow)
    push(runsKey(keys, queueName, workflowId), durations, settings.durationSamples);
}

/** One completed run of a queue. */
export interface QueueRun {
  /** When it finished, epoch ms. */
  finishedAtMs: number;
  /** How long it ran, ms. */
  durationMs: number;
}

/** The recent history of one queue. */
export interface QueueHistory {
  /** Finish times (epoch ms), newest first. */
  finishedAtMs: number[];
  /** Completed runs of every workflow, newest first. */
  runs: QueueRun[];
  /** Run durations (ms) per workflow id asked for, newest first. */
  durations: Map<string, number[]>;
  /** The queue's `etaConfidence` calibration histograms per kind of ETA, `null` before any prediction of that kind was scored. */
  calibration: Record<EtaKind, CalibrationBucket[] | null>;
}

/** Recent history of some queues and of some workflows of jobs without a queue. */
export interface History {
  /** Per queue name. */
  queues: Map<string, QueueHistory>;
  /** Run durations (ms) per workflow id of jobs no BullMQ queue runs, newest first. */
  workflows: Map<string, number[]>;
}

/** What to read: a queue (and optionally one workflow's durations in it), or a queue-less workflow. */
export type HistoryWanted = { queueName: string; workflowId?: string } | { queueName?: undefined; workflowId: string };

function numbers(value: unknown): number[] {
  return (value as string[]).map(Number).filter(Number.isFinite);
}

function runsOf(value: unknown): QueueRun[] {
  const runs: QueueRun[] = [];
  for (const entry of value as string[]) {
    const [finished, duration] = entry.split(':').map(Number);
    if (finished !== undefined && duration !== undefined && Number.isFinite(finished) && Number.isFinite(duration))
      runs.push({ finishedAtMs: finished, durationMs: duration });
  }
  return runs;
}

function calibrationsOf(hash: Record<string, string> | undefined): Record<EtaKind, CalibrationBucket[] | null> {
  return { waiting: calibrationOf(hash, 'waiting'), running: calibrationOf(hash, 'running') };
}

/**
 * Reads the history of the wanted queues and workflows: one pipelined round trip per queue (one slot
 * each), and one `LRANGE` per queue-less workflow, all in parallel.
 */
export async function readHistory(
  redis: RedisConnection,
  keys: SeennKeys,
  wanted: Iterable<HistoryWanted>,
  settings: ResolvedHistoryOptions,
): Promise<History> {
  const byQueue = new Map<string, Set<string>>();
  const queueless = new Set<string>();
  for (const { queueName, workflowId } of wanted) {
    if (queueName === undefined) {
      queueless.add(workflowId);
      continue;
    }
    const workflows = byQueue.get(queueName) ?? new Set<string>();
    if (workflowId !== undefined) workflows.add(workflowId);
    byQueue.set(queueName, workflows);
  }
  const history: History = { queues: new Map(), workflows: new Map() };
  const alone = [...queueless].map(async (workflowId) => {
    try {
      history.workflows.set(
        workflowId,
        numbers(await redis.lrange(runsKey(keys, undefined, workflowId), 0, settings.durationSamples - 1)),
      );
    } catch (error) {
      throw new SeennError('STORE_ERROR', 'could not read ETA history', { cause: error, details: { workflowId } });
    }
  });
  const perQueue = [...byQueue].map(async ([queueName, workflowSet]) => {
    const workflows = [...workflowSet];
    const pipeline = redis.pipeline();
    pipeline.lrange(completionsKey(keys, queueName), 0, settings.throughputSamples - 1);
    pipeline.lrange(queueRunsKey(keys, queueName), 0, settings.throughputSamples - 1);
    pipeline.hgetall(keys.etaCalibration(queueName));
    for (const workflow of workflows)
      pipeline.lrange(runsKey(keys, queueName, workflow), 0, settings.durationSamples - 1);
    let replies: [Error | null, unknown][];
    try {
      replies = (await pipeline.exec()) ?? [];
    } catch (error) {
      throw new SeennError('STORE_ERROR', 'could not read ETA history', { cause: error, details: { queueName } });
    }
    const failed = replies.find(([error]) => error !== null);
    if (failed)
      throw new SeennError('STORE_ERROR', 'could not read ETA history', { cause: failed[0], details: { queueName } });
    const queue: QueueHistory = {
      finishedAtMs: numbers(replies[0]?.[1]),
      runs: runsOf(replies[1]?.[1]),
      durations: new Map(),
      calibration: calibrationsOf(replies[2]?.[1] as Record<string, string> | undefined),
    };
    workflows.forEach((workflow, i) => queue.durations.set(workflow, numbers(replies[3 + i]?.[1])));
    history.queues.set(queueName, queue);
  });
  await Promise.all([...alone, ...perQueue]);
  return history;
}
