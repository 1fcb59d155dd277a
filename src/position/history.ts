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
 * The Redis commands are in `store/history-store.ts`; this module validates, groups and interprets.
 */
import type { RedisConnection } from '../store/connection.js';
import { z } from 'zod';
import { SeennError } from '../errors.js';
import { LIMITS, QueueNameSchema } from '../model/job.js';
import { parseOrThrow } from '../options.js';
import {
  addHistoryWrite,
  HistoryStore,
  type HistoryPipeline,
  type HistoryWrite,
  type QueueRun,
  type StoredQueueHistory,
} from '../store/history-store.js';
import { queueHistoryRoot, type SeennKeys } from '../store/keys.js';
import { calibrationOf, scoreEtaPredictions, type CalibrationBucket, type EtaKind } from './calibration.js';
import {
  HISTORY_DEFAULTS,
  resolveHistoryOptions,
  type HistoryOptions,
  type ResolvedHistoryOptions,
} from './options.js';

// The key root lives with every other key in store/keys.ts, the run encoding in store/history-store.ts;
// still exported here for position/index.ts.
export { queueHistoryRoot, type QueueRun };

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
 * await recordCompletion(redis, keys, {
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
  const outcome =
    parsed.jobId === undefined
      ? undefined
      : {
          queueName: parsed.queueName,
          jobId: parsed.jobId,
          finishedAtMs: parsed.finishedAtMs,
          failed: parsed.failed ?? false,
        };
  try {
    await Promise.all([
      new HistoryStore(redis, keys).write(parsed.queueName, historyWrite([parsed]), settings),
      outcome === undefined ? undefined : scoreEtaPredictions(redis, keys, outcome, settings),
    ]);
  } catch (error) {
    throw new SeennError('STORE_ERROR', 'could not record a completion', {
      cause: error,
      details: { queueName: parsed.queueName },
    });
  }
}

/**
 * Adds the commands that record `completions` — finished jobs of ONE queue, in the order they
 * finished — to `pipeline` (the keys are all in the queue's slot): one LPUSH of every value, one
 * LTRIM and one PEXPIRE per list, which leaves each list exactly as one {@link recordCompletion} per
 * job would. The input is trusted (the publisher builds it): nothing is validated here.
 */
export function addCompletions(
  pipeline: HistoryPipeline,
  keys: SeennKeys,
  queueName: string,
  completions: readonly Completion[],
  settings: ResolvedHistoryOptions = HISTORY_DEFAULTS,
): void {
  if (completions.length === 0) return;
  addHistoryWrite(pipeline, keys, queueName, historyWrite(completions), settings);
}

/** What `completions` of one queue add to its history: every finish time, and the runs of those with a workflow and a duration. */
function historyWrite(
  completions: readonly { finishedAtMs: number; workflowId?: string | undefined; durationMs?: number | undefined }[],
): HistoryWrite {
  const runs: QueueRun[] = [];
  const durations = new Map<string, number[]>();
  for (const { finishedAtMs, workflowId, durationMs } of completions) {
    if (workflowId === undefined || durationMs === undefined) continue;
    const rounded = Math.round(durationMs);
    runs.push({ finishedAtMs, durationMs: rounded });
    const list = durations.get(workflowId);
    if (list === undefined) durations.set(workflowId, [rounded]);
    else list.push(rounded);
  }
  return { finishedAtMs: completions.map((completion) => completion.finishedAtMs), runs, durations };
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
  const store = new HistoryStore(redis, keys);
  const alone = [...queueless].map(async (workflowId) => {
    try {
      history.workflows.set(workflowId, await store.readWorkflow(workflowId, settings));
    } catch (error) {
      throw new SeennError('STORE_ERROR', 'could not read ETA history', { cause: error, details: { workflowId } });
    }
  });
  const perQueue = [...byQueue].map(async ([queueName, workflows]) => {
    let stored: StoredQueueHistory;
    try {
      stored = await store.readQueue(queueName, [...workflows], settings);
    } catch (error) {
      throw new SeennError('STORE_ERROR', 'could not read ETA history', { cause: error, details: { queueName } });
    }
    history.queues.set(queueName, { ...stored, calibration: calibrationsOf(stored.calibration) });
  });
  await Promise.all([...alone, ...perQueue]);
  return history;
}
