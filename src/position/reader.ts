/**
 * Queue position and ETA on read: `seenn.jobs.get` / `list` (and the bridge's REST and `job.sync`)
 * pass stored records through {@link PositionReader.decorate}.
 */
import type { RedisConnection } from '../store/connection.js';
import type { Logger } from '../logger.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import type { SeennJob } from '../model/job.js';
import type { JobRecord } from '../model/record.js';
import type { SeennKeys } from '../store/keys.js';
import { readHistory, type HistoryWanted } from './history.js';
import { lookupPositions, type PositionRequest, type QueueSnapshot } from './lookup.js';
import { resolvePositionOptions, type PositionOptions, type ResolvedPositionOptions } from './options.js';
import { etaKindOf, PredictionRecorder } from './calibration.js';
import { applyView, computeView, HistoryStats, wantsEta, workflowOf, type PositionView } from './view.js';

/**
 * What positions need: the connection the store's position, history and calibration calls run on,
 * the key names, a logger for the failures a read survives, and optionally where lookup durations go
 * (a `SeennContext` has all four).
 */
export interface PositionSource {
  readonly redis: RedisConnection;
  readonly keys: SeennKeys;
  readonly logger: Logger;
  /** Where lookup durations go (`seenn_position_lookup_duration_seconds`); none when absent. */
  readonly metrics?: Pick<MetricsRecorder, 'timePositionLookup'>;
}

/** {@link lookupPositions} on `source`'s Redis, timed into its metrics when it has them. */
export function lookupIn(
  source: PositionSource,
  queueName: string,
  requests: readonly PositionRequest[],
  scanLimit: number,
  rankIndex: boolean,
): Promise<QueueSnapshot> {
  const work = (): Promise<QueueSnapshot> =>
    lookupPositions(source.redis, source.keys.prefix, queueName, requests, scanLimit, rankIndex);
  return source.metrics?.timePositionLookup(work) ?? work();
}

/** Whether a stored record is a queued BullMQ job (the only kind with a position). */
export function isQueuedBullJob(record: JobRecord): record is JobRecord & { x: { queueName: string; bullId: string } } {
  return record.job.status === 'queued' && record.x.queueName !== undefined && record.x.bullId !== undefined;
}

/** Whether a stored record is a queued or pending BullMQ job (what a lookup places: a position, or a delayed job's run-at time). */
export function isPlaceableBullJob(
  record: JobRecord,
): record is JobRecord & { x: { queueName: string; bullId: string } } {
  return (
    (record.job.status === 'queued' || record.job.status === 'pending') &&
    record.x.queueName !== undefined &&
    record.x.bullId !== undefined
  );
}

/**
 * Computes positions and ETAs for stored jobs: one position script call per queue among the jobs
 * (queued jobs only), plus one pipelined history read when an ETA may be given.
 *
 * @example
 * ```ts
 * const reader = new PositionReader({ redis, keys: new SeennKeys('bull', 'default'), logger });
 * const [job] = await reader.decorate([record]); // job.queue = { position: 3, total: 12, queueName: 'video' }
 * ```
 */
export class PositionReader {
  /** The resolved options. */
  readonly options: ResolvedPositionOptions;
  private readonly predictions: PredictionRecorder | null;

  /**
   * @param source - Redis, keys, logger and optionally metrics
   * @param options - see {@link PositionOptions}; validated here (`CONFIG_INVALID`)
   */
  constructor(
    private readonly source: PositionSource,
    options: PositionOptions = {},
  ) {
    this.options = resolvePositionOptions(options);
    this.predictions = this.options.etaCalibration
      ? new PredictionRecorder(source.redis, source.keys, this.options)
      : null;
  }

  /** Places `requests` in one queue with one script call (see `store/lua/position-lookup.ts` for the cost). */
  lookup(queueName: string, requests: readonly PositionRequest[]): Promise<QueueSnapshot> {
    return lookupIn(this.source, queueName, requests, this.options.scanLimit, this.options.rankIndex);
  }

  /**
   * Copies of the records' jobs with `queue` (queued jobs) and a computed ETA (queued, delayed and
   * running jobs without an explicit `estimatedCompletionAt`). A lookup that fails is logged and leaves its
   * jobs as stored. With `etaCalibration` (the default), a computed ETA's `etaConfidence` is calibrated
   * against its queue's outcomes, and the read records the job's first and mid-wait predictions (one
   * script per queue, only for reads that give one; a failure is logged, the read goes on).
   */
  async decorate(records: readonly JobRecord[]): Promise<SeennJob[]> {
    return (await this.explain(records)).map(({ job }) => job);
  }

  /** {@link decorate}, with each job's derived view (its ETA's `modelConfidence` included: benchmarks compare the two). */
  async explain(records: readonly JobRecord[]): Promise<{ job: SeennJob; view: PositionView }[]> {
    const nowMs = this.options.now();
    const byQueue = new Map<string, number[]>();
    records.forEach((record, i) => {
      if (!isQueuedBullJob(record) && !(isPlaceableBullJob(record) && wantsEta(record.job))) return;
      const list = byQueue.get(record.x.queueName) ?? [];
      list.push(i);
      byQueue.set(record.x.queueName, list);
    });
    const etaJobs = records.filter((record) => wantsEta(record.job));
    const lookups = [...byQueue].map(async ([queueName, indexes]) => {
      try {
        const requests = indexes.map((i) => ({ bullId: (records[i] as JobRecord).x.bullId as string }));
        return { indexes, snapshot: await this.lookup(queueName, requests) };
      } catch (error) {
        this.source.logger.warn({ err: error, queue: queueName }, 'queue position lookup failed');
        return null;
      }
    });
    const history = etaJobs.length === 0 ? Promise.resolve(null) : this.readStats(etaJobs);
    const [placed, stats] = await Promise.all([Promise.all(lookups), history]);
    const places = new Map<number, { snapshot: QueueSnapshot; place: QueueSnapshot['places'][number] }>();
    for (const result of placed) {
      if (result === null) continue;
      result.indexes.forEach((recordIndex, i) =>
        places.set(recordIndex, {
          snapshot: result.snapshot,
          place: result.snapshot.places[i] as QueueSnapshot['places'][number],
        }),
      );
    }
    const out = records.map((record, i) => {
      const view = computeView(record.job, record.x.queueName, places.get(i) ?? null, stats, nowMs, this.options);
      const eta = view.eta;
      if (
        this.predictions !== null &&
        eta !== undefined &&
        record.x.queueName !== undefined &&
        record.x.bullId !== undefined
      )
        this.predictions.note(
          record.x.queueName,
          record.job.id,
          record.x.bullId,
          etaKindOf(record.job.status),
          eta.modelConfidence ?? eta.confidence,
          eta.atMs,
          nowMs,
        );
      return { job: applyView(record.job, view), view };
    });
    try {
      await this.predictions?.flush();
    } catch (error) {
      this.source.logger.warn({ err: error }, 'recording ETA predictions failed');
    }
    return out;
  }

  private async readStats(records: readonly JobRecord[]): Promise<HistoryStats | null> {
    const wanted: HistoryWanted[] = records.map((record) => ({
      queueName: record.x.queueName,
      workflowId: workflowOf(record.job),
    }));
    try {
      return new HistoryStats(await readHistory(this.source.redis, this.source.keys, wanted, this.options));
    } catch (error) {
      this.source.logger.warn({ err: error }, 'ETA history read failed');
      return null;
    }
  }
}
