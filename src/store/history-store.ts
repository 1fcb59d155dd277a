/**
 * The Redis side of the run history for ETAs (`position/history.ts` holds what it means): per queue,
 * in the QUEUE's slot, a list of finish times (`keys.etaCompletions`), a list of completed runs
 * (`keys.etaQueueRuns`, each `"<finishedAtMs>:<durationMs>"`) and one list of run durations per
 * workflow (`keys.etaRuns`); for jobs no BullMQ queue runs, one durations list per workflow, alone in
 * its slot. Lists are `LPUSH`ed, trimmed to their sample count and expire `historySeconds` after the
 * last push. One pipeline only ever holds keys of one queue (one slot on Redis Cluster).
 *
 * The durations of workflows no queue runs are written by {@link EtaRunsStore.record} (when a
 * Seenn-only job completes) and read, listed and forgotten here: {@link HistoryStore.readWorkflow}
 * for ETAs, {@link EtaRunsStore} for the write API's `GET /eta`, `GET /eta/:key` and `DELETE /eta/:key`.
 */
import { isCluster, type RedisConnection } from './connection.js';
import type { SeennKeys } from './keys.js';

/** One completed run of a queue. */
export interface QueueRun {
  /** When it finished, epoch ms. */
  finishedAtMs: number;
  /** How long it ran, ms. */
  durationMs: number;
}

/** How much history is kept, and for how long. */
export interface HistoryLimits {
  /** Every list expires this long after its last push. */
  historySeconds: number;
  /** Finish times and runs kept per queue. */
  throughputSamples: number;
  /** Run durations kept per workflow. */
  durationSamples: number;
}

/** What one write adds to one queue's history, oldest first (the newest ends at the head of each list). */
export interface HistoryWrite {
  /** Finish times, epoch ms (completed and failed jobs). */
  finishedAtMs: readonly number[];
  /** Completed runs of every workflow. */
  runs: readonly QueueRun[];
  /** Run durations (ms) per workflow id. */
  durations: ReadonlyMap<string, readonly number[]>;
}

/** The part of an ioredis pipeline {@link addHistoryWrite} uses. */
export interface HistoryPipeline {
  lpush(key: string, ...values: (string | number)[]): unknown;
  ltrim(key: string, start: number, stop: number): unknown;
  pexpire(key: string, ms: number): unknown;
}

/** One queue's history as stored, newest first. */
export interface StoredQueueHistory {
  finishedAtMs: number[];
  runs: QueueRun[];
  /** Per workflow id asked for. */
  durations: Map<string, number[]>;
  /** The queue's calibration hash (`keys.etaCalibration`; `position/calibration.ts` reads it), empty when none. */
  calibration: Record<string, string>;
}

/**
 * Adds the commands of `write` to `pipeline` (all keys in `queueName`'s slot): per list one LPUSH of
 * every value, one LTRIM and one PEXPIRE; a list with nothing to add is left alone.
 */
export function addHistoryWrite(
  pipeline: HistoryPipeline,
  keys: SeennKeys,
  queueName: string,
  write: HistoryWrite,
  limits: HistoryLimits,
): void {
  const ttlMs = limits.historySeconds * 1000;
  const push = (key: string, values: readonly (string | number)[], samples: number): void => {
    if (values.length === 0) return;
    pipeline.lpush(key, ...values);
    pipeline.ltrim(key, 0, samples - 1);
    pipeline.pexpire(key, ttlMs);
  };
  push(keys.etaCompletions(queueName), write.finishedAtMs, limits.throughputSamples);
  push(
    keys.etaQueueRuns(queueName),
    write.runs.map((run) => `${run.finishedAtMs}:${run.durationMs}`),
    limits.throughputSamples,
  );
  for (const [workflowId, durations] of write.durations)
    push(keys.etaRuns(queueName, workflowId), durations, limits.durationSamples);
}

/** Reads and writes the run history. Holds no state of its own. */
export class HistoryStore {
  /**
   * @param redis - a connection this store may use (never closed by it)
   * @param keys - the key builder
   */
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: SeennKeys,
  ) {}

  /** Writes `write` to `queueName`'s history in one pipeline. Throws the first error (the pipeline's, or a command's). */
  async write(queueName: string, write: HistoryWrite, limits: HistoryLimits): Promise<void> {
    const pipeline = this.redis.pipeline();
    addHistoryWrite(pipeline, this.keys, queueName, write, limits);
    throwFirstError((await pipeline.exec()) ?? []);
  }

  /** One queue's history and the durations of `workflowIds` in it: one pipelined round trip. Throws as {@link write}. */
  async readQueue(
    queueName: string,
    workflowIds: readonly string[],
    limits: HistoryLimits,
  ): Promise<StoredQueueHistory> {
    const pipeline = this.redis.pipeline();
    pipeline.lrange(this.keys.etaCompletions(queueName), 0, limits.throughputSamples - 1);
    pipeline.lrange(this.keys.etaQueueRuns(queueName), 0, limits.throughputSamples - 1);
    pipeline.hgetall(this.keys.etaCalibration(queueName));
    for (const workflowId of workflowIds)
      pipeline.lrange(this.keys.etaRuns(queueName, workflowId), 0, limits.durationSamples - 1);
    const replies = (await pipeline.exec()) ?? [];
    throwFirstError(replies);
    const durations = new Map<string, number[]>();
    workflowIds.forEach((workflowId, i) => durations.set(workflowId, numbers(replies[3 + i]?.[1])));
    return {
      finishedAtMs: numbers(replies[0]?.[1]),
      runs: runsOf(replies[1]?.[1]),
      durations,
      calibration: (replies[2]?.[1] as Record<string, string> | undefined) ?? {},
    };
  }

  /** The run durations of a workflow of jobs no BullMQ queue runs, newest first. */
  async readWorkflow(workflowId: string, limits: HistoryLimits): Promise<number[]> {
    return numbers(await this.redis.lrange(this.keys.etaRuns(undefined, workflowId), 0, limits.durationSamples - 1));
  }
}

function throwFirstError(replies: readonly [Error | null, unknown][]): void {
  const failed = replies.find(([error]) => error !== null);
  if (failed) throw failed[0];
}

function numbers(value: unknown): number[] {
  return ((value as string[] | undefined) ?? []).map(Number).filter(Number.isFinite);
}

function runsOf(value: unknown): QueueRun[] {
  const runs: QueueRun[] = [];
  for (const entry of (value as string[] | undefined) ?? []) {
    const [finished, duration] = entry.split(':').map(Number);
    if (finished !== undefined && duration !== undefined && Number.isFinite(finished) && Number.isFinite(duration))
      runs.push({ finishedAtMs: finished, durationMs: duration });
  }
  return runs;
}

/** One workflow's stored durations (ms, oldest first as stored) and the list's remaining TTL (ms; ≤ 0: none). */
export interface EtaRuns {
  samples: string[];
  ttlMs: number;
}

/** Keys of run lists matched per SCAN round trip. */
const SCAN_COUNT = 500;
const SUFFIX = ':runs';

/**
 * Records, reads, lists and forgets the run durations of workflows no BullMQ queue runs (a completed
 * Seenn-only job; the write API's `/eta` routes).
 */
export class EtaRunsStore {
  /**
   * @param redis - a connection this store may use (never closed by it)
   * @param keys - the key builder
   */
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: SeennKeys,
  ) {}

  /**
   * Adds the run time of a job no BullMQ queue runs to its workflow's history (the list ETAs of that
   * workflow are computed from), keeping the newest `history.durationSamples` runs for
   * `history.historySeconds`.
   */
  async record(
    workflowId: string,
    durationMs: number,
    history: { durationSamples: number; historySeconds: number },
  ): Promise<void> {
    const key = this.keys.etaRuns(undefined, workflowId);
    await this.redis
      .pipeline()
      .lpush(key, durationMs)
      .ltrim(key, 0, history.durationSamples - 1)
      .pexpire(key, history.historySeconds * 1000)
      .exec();
  }

  /** The durations of `workflowId`. */
  async read(workflowId: string): Promise<EtaRuns> {
    const key = this.keys.etaRuns(undefined, workflowId);
    const [samples, ttlMs] = await Promise.all([this.redis.lrange(key, 0, -1), this.redis.pttl(key)]);
    return { samples, ttlMs };
  }

  /** Forgets `workflowId`'s durations; `true` when there were some. */
  async delete(workflowId: string): Promise<boolean> {
    return (await this.redis.del(this.keys.etaRuns(undefined, workflowId))) > 0;
  }

  /** Every workflow id with stored durations (SCAN, on every master of a Cluster), sorted. */
  async workflowIds(): Promise<string[]> {
    const head = this.keys.etaRuns(undefined, '').slice(0, -SUFFIX.length);
    const pattern = `${globEscape(head)}*${SUFFIX}`;
    const nodes = isCluster(this.redis) ? this.redis.nodes('master') : [this.redis];
    const ids = new Set<string>();
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        for (const key of found) ids.add(key.slice(head.length, -SUFFIX.length));
      } while (cursor !== '0');
    }
    return [...ids].sort();
  }
}

/** Escapes Redis glob characters. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}
