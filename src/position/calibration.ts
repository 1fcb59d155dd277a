/**
 * `etaConfidence` calibrated against real outcomes.
 *
 * The ETA model (`eta.ts`) gives each ETA its own probability of landing within ±20 % of the time
 * left it predicts. That probability is only a model; this module measures it, per queue:
 *
 * 1. **Record.** When a read gives a job a computed ETA (`PositionReader.decorate`, and the
 *    `PositionWatcher` for live positions), the job's prediction is recorded in its queue's slot:
 *    `(model confidence, made at, predicted end, kind)`, the kind being `waiting` (queued or delayed:
 *    the wait model) or `running` (the run model); the two are calibrated apart, since one model
 *    confidence means different things in each (bench/README.md, section 7). At most TWO per job: its first ETA, and one
 *    mid-wait ETA (the first read at or after the middle of the first prediction's time left). So a
 *    job read a hundred times counts no more than one read twice. A per-process memo skips the Redis
 *    call for reads that would record nothing; the script is idempotent across processes. The oldest
 *    jobs beyond `etaCalibrationMaxJobs` are dropped unscored, and the keys expire `historySeconds`
 *    after the last write.
 * 2. **Score.** When the publisher records a job's completion (`recordCompletion` with its `jobId`),
 *    each of its predictions is scored: a hit when `|finished − predicted end| ≤ 0.2 · (predicted
 *    end − made at)`, the band `etaConfidence` speaks of. Failed jobs' predictions are dropped, not
 *    scored (a failure is not a late completion); cancelled and removed jobs' never reach scoring and
 *    age out as above. A scored or dropped job's predictions are replaced by a `done` marker, so a
 *    read that saw the job still waiting just before it finished records nothing afterwards (the
 *    marker leaves with the job cap or the TTL). A job that had no prediction yet when it was scored
 *    gets no marker; its racing first read is refused by the record script itself, which records
 *    nothing for a job BullMQ has finished (or no longer holds) — the publisher scores only after
 *    BullMQ finished the job, so no prediction can land after its scoring. The score goes into the queue's histogram: per kind and model-confidence
 *    bucket (ten per kind, 0.1 wide), the decayed count of predictions `n`, of hits `h`, and the sum of their model
 *    confidences `s`. Every scored prediction first multiplies all counts by
 *    `1 − 1/etaCalibrationWindowSamples`, so the histogram follows drift over the last ≈ that many
 *    predictions.
 * 3. **Map.** On read (the histogram comes with the ETA history, in the same round trip), a model
 *    confidence `c` of an ETA of one kind in bucket `b` with at least one (decayed) scored prediction becomes that bucket's
 *    measured share with a prior toward the model: `(h + k · s/n) / (n + k)`, `k` =
 *    `etaCalibrationPriorSamples`; the buckets' values are then made monotone (pool-adjacent-violators
 *    weighted by `n`), so a higher model confidence never maps lower. A bucket without outcomes keeps
 *    the model's value, clamped between its measured neighbours. A queue without any scored
 *    prediction of that kind (or jobs no BullMQ queue runs) keeps the model's value.
 *
 * So `etaConfidence` ≈ the share of this queue's recent ETAs, given at that model confidence, that
 * landed within ±20 % of the time left they predicted.
 */
import type { RedisConnection } from '../store/connection.js';
import { SeennError } from '../errors.js';
import type { SeennKeys } from '../store/keys.js';
import { recordEtaPredictionsCall, scoreEtaPredictionsCall } from '../store/lua/calibration.js';
import { addCall, runCall, type CallCheck, type ScriptCall, type ScriptPipeline } from '../store/scripts.js';

/** Confidence buckets of the histogram (each 1/CALIBRATION_BUCKETS wide). */
export const CALIBRATION_BUCKETS = 10;

/**
 * Predictions recorded per job at most: its first, then at most one per later slot of the first
 * prediction's time left (split in this many equal slots), the first read in each. 2: the first ETA
 * and one mid-wait. (4 was tried in bench/eta.ts: no better calibration over every read.)
 */
export const PREDICTIONS_PER_JOB = 2;

/** The band a hit lands in: within this share of the predicted time left. */
export const CALIBRATION_BAND = 0.2;

/** What an ETA predicts: when a waiting (queued or delayed) job ends, or a running one. */
export type EtaKind = 'waiting' | 'running';

/** The histogram's bucket offset of each kind (`n<offset + bucket>`). */
const KIND_OFFSET: Record<EtaKind, number> = { waiting: 0, running: CALIBRATION_BUCKETS };

/** The kind of ETA a job of this status gets. */
export function etaKindOf(status: string): EtaKind {
  return status === 'running' ? 'running' : 'waiting';
}

/** A bucket with fewer (decayed) scored predictions than this counts as empty. */
const MIN_BUCKET_SAMPLES = 1;

/** The bucket of a model confidence (0–1). */
export function bucketOf(confidence: number, buckets = CALIBRATION_BUCKETS): number {
  return Math.min(buckets - 1, Math.max(0, Math.floor(confidence * buckets + 1e-9)));
}

/** One bucket of a queue's calibration histogram (decayed counts). */
export interface CalibrationBucket {
  /** Scored predictions. */
  samples: number;
  /** Of those, the ones that landed within ±20 %. */
  hits: number;
  /** The sum of their model confidences. */
  confidenceSum: number;
}

/** One kind's histogram from a queue's Redis hash, or `null` when nothing of that kind was scored yet. */
export function calibrationOf(
  hash: Record<string, string> | null | undefined,
  kind: EtaKind,
  buckets = CALIBRATION_BUCKETS,
): CalibrationBucket[] | null {
  if (hash === null || hash === undefined) return null;
  const offset = KIND_OFFSET[kind];
  const read = (field: string): number => {
    const value = Number(hash[field] ?? 0);
    return Number.isFinite(value) && value > 0 ? value : 0;
  };
  const out: CalibrationBucket[] = [];
  let any = false;
  for (let b = 0; b < buckets; b += 1) {
    const bucket = {
      samples: read(`n${offset + b}`),
      hits: read(`h${offset + b}`),
      confidenceSum: read(`s${offset + b}`),
    };
    bucket.hits = Math.min(bucket.hits, bucket.samples);
    if (bucket.samples > 0) any = true;
    out.push(bucket);
  }
  return any ? out : null;
}

/**
 * Each bucket's calibrated value (`null` for a bucket without outcomes): the measured share with a
 * prior of `priorSamples` toward the bucket's mean model confidence, made monotone across buckets.
 */
export function calibratedBuckets(histogram: readonly CalibrationBucket[], priorSamples: number): (number | null)[] {
  const blocks: { first: number; last: number; weight: number; value: number }[] = [];
  histogram.forEach((bucket, b) => {
    if (bucket.samples < MIN_BUCKET_SAMPLES) return;
    const meanModel = bucket.confidenceSum / bucket.samples;
    const value = (bucket.hits + priorSamples * meanModel) / (bucket.samples + priorSamples);
    blocks.push({ first: b, last: b, weight: bucket.samples, value });
    // Pool adjacent violators: a block lower than the one before it merges with it.
    while (blocks.length > 1) {
      const top = blocks[blocks.length - 1] as (typeof blocks)[number];
      const below = blocks[blocks.length - 2] as (typeof blocks)[number];
      if (below.value <= top.value) break;
      blocks.pop();
      below.value = (below.value * below.weight + top.value * top.weight) / (below.weight + top.weight);
      below.weight += top.weight;
      below.last = top.last;
    }
  });
  const out: (number | null)[] = histogram.map(() => null);
  for (const block of blocks) {
    for (let b = block.first; b <= block.last; b += 1)
      if ((histogram[b] as CalibrationBucket).samples >= MIN_BUCKET_SAMPLES) out[b] = block.value;
  }
  return out;
}

/**
 * Maps model confidences of one queue onto the measured share of hits (see the module comment).
 * Built once per history read.
 */
export class Calibration {
  private readonly values: (number | null)[];

  /**
   * @param histogram - the queue's buckets ({@link calibrationOf})
   * @param priorSamples - `etaCalibrationPriorSamples`
   */
  constructor(
    readonly histogram: readonly CalibrationBucket[],
    priorSamples: number,
  ) {
    this.values = calibratedBuckets(histogram, priorSamples);
  }

  /** The calibrated confidence (0–1, two decimals) of a model confidence. */
  map(modelConfidence: number): number {
    const b = bucketOf(modelConfidence, this.values.length);
    let value = this.values[b];
    if (value === null || value === undefined) {
      let low = 0;
      let high = 1;
      for (let i = b - 1; i >= 0; i -= 1) {
        const v = this.values[i];
        if (v !== null && v !== undefined) {
          low = v;
          break;
        }
      }
      for (let i = b + 1; i < this.values.length; i += 1) {
        const v = this.values[i];
        if (v !== null && v !== undefined) {
          high = v;
          break;
        }
      }
      value = Math.min(high, Math.max(low, modelConfidence));
    }
    return Math.min(1, Math.max(0, Math.round(value * 100) / 100));
  }
}

/** What {@link scoreEtaPredictions} needs to know about a finished job. */
export interface PredictionOutcome {
  queueName: string;
  /** The Seenn job id the predictions were recorded under. */
  jobId: string;
  /** When the job finished, epoch ms. */
  finishedAtMs: number;
  /** Failed for good: its predictions are dropped, not scored. */
  failed: boolean;
}

/** What scoring reads of the history options. */
export type ScoringSettings = { etaCalibrationWindowSamples: number; historySeconds: number };

/** The script call that scores finished jobs of ONE queue. */
function scoringCall(
  keys: SeennKeys,
  queueName: string,
  outcomes: readonly Omit<PredictionOutcome, 'queueName'>[],
  settings: ScoringSettings,
): ScriptCall {
  return scoreEtaPredictionsCall({
    predictions: keys.etaPredictions(queueName),
    times: keys.etaPredictionTimes(queueName),
    histogram: keys.etaCalibration(queueName),
    keepWeight: 1 - 1 / settings.etaCalibrationWindowSamples,
    ttlMs: settings.historySeconds * 1000,
    buckets: CALIBRATION_BUCKETS,
    band: CALIBRATION_BAND,
    outcomes,
  });
}

/**
 * Scores finished jobs' recorded predictions into their queue's calibration histogram (or drops
 * them, for failed jobs). One script over keys of the queue's slot; answers the number scored.
 */
export async function scoreEtaPredictions(
  redis: RedisConnection,
  keys: SeennKeys,
  outcome: PredictionOutcome,
  settings: ScoringSettings,
): Promise<number> {
  return Number(await runCall(redis, scoringCall(keys, outcome.queueName, [outcome], settings)));
}

/**
 * Adds the scoring of finished jobs of ONE queue to `pipeline` (one EVALSHA, all of them at once; a
 * queue that has no recorded predictions costs Redis one EXISTS). Answers the check that
 * {@link addCall} gives; it must be called with the pipeline's replies.
 */
export function addEtaScoring(
  pipeline: ScriptPipeline,
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  outcomes: readonly Omit<PredictionOutcome, 'queueName'>[],
  settings: ScoringSettings,
): CallCheck {
  if (outcomes.length === 0) return () => Promise.resolve(null);
  return addCall(pipeline, redis, scoringCall(keys, queueName, outcomes, settings));
}

/** Settings of a {@link PredictionRecorder}. */
export interface PredictionRecorderSettings {
  etaCalibrationMaxJobs: number;
  historySeconds: number;
}

/** Jobs a recorder remembers having recorded (beyond it, the oldest are forgotten: a Redis call then tells again). */
const MEMO_LIMIT = 10_000;

type Memo = { dueAtMs: number } | 'done';

interface Prediction {
  /** The job's BullMQ id (a job BullMQ finished records nothing). */
  bullId: string;
  confidence: number;
  madeAtMs: number;
  endMs: number;
  /** 0 waiting, 1 running. */
  kind: 0 | 1;
}

/**
 * Records the ETA predictions reads give, per queue (see the module comment): `note` each ETA given,
 * then `flush` once per read or tick. Reads that would record nothing cost no Redis call.
 */
export class PredictionRecorder {
  private readonly memo = new Map<string, Memo>();
  private pending = new Map<string, Map<string, Prediction>>();

  /**
   * @param redis - the connection
   * @param keys - the key names
   * @param settings - limits and TTL
   */
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: SeennKeys,
    private readonly settings: PredictionRecorderSettings,
  ) {}

  /** Jobs with predictions waiting for {@link flush}. */
  get pendingJobs(): number {
    let n = 0;
    for (const jobs of this.pending.values()) n += jobs.size;
    return n;
  }

  /**
   * Notes an ETA of `kind` given to job `jobId` (BullMQ's `bullId`) of a queue at `madeAtMs`: kept for
   * the next flush when it may be the job's first or mid-wait prediction.
   */
  note(
    queueName: string,
    jobId: string,
    bullId: string,
    kind: EtaKind,
    modelConfidence: number,
    predictedEndMs: number,
    madeAtMs: number,
  ): void {
    const memo = this.memo.get(memoKey(queueName, jobId));
    if (memo === 'done' || (memo !== undefined && madeAtMs < memo.dueAtMs)) return;
    const jobs = this.pending.get(queueName) ?? new Map<string, Prediction>();
    if (!jobs.has(jobId))
      jobs.set(jobId, {
        bullId,
        confidence: modelConfidence,
        madeAtMs: Math.round(madeAtMs),
        endMs: Math.round(predictedEndMs),
        kind: kind === 'running' ? 1 : 0,
      });
    this.pending.set(queueName, jobs);
  }

  /**
   * Writes the noted predictions: one script per queue (one slot each), in parallel. A queue that
   * fails loses its notes (reads go on); the first error is thrown as a `STORE_ERROR` after all ran.
   */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    const errors: unknown[] = [];
    await Promise.all(
      [...pending].map(async ([queueName, jobs]) => {
        const entries = [...jobs];
        const call = recordEtaPredictionsCall({
          predictions: this.keys.etaPredictions(queueName),
          times: this.keys.etaPredictionTimes(queueName),
          maxJobs: this.settings.etaCalibrationMaxJobs,
          ttlMs: this.settings.historySeconds * 1000,
          predictionsPerJob: PREDICTIONS_PER_JOB,
          jobs: entries.map(([jobId, { bullId, ...p }]) => ({
            jobId,
            bullJobKey: this.keys.bullJob(queueName, bullId),
            ...p,
          })),
        });
        try {
          const answer = (await runCall(this.redis, call)) as (string | number)[];
          entries.forEach(([jobId], i) => {
            const madeAtMs = Number(answer[3 * i]);
            const endMs = Number(answer[3 * i + 1]);
            const nextSlot = Number(answer[3 * i + 2]);
            this.remember(
              memoKey(queueName, jobId),
              nextSlot >= PREDICTIONS_PER_JOB
                ? 'done'
                : { dueAtMs: madeAtMs + (nextSlot * (endMs - madeAtMs)) / PREDICTIONS_PER_JOB },
            );
          });
        } catch (error) {
          errors.push(
            new SeennError('STORE_ERROR', 'could not record ETA predictions', { cause: error, details: { queueName } }),
          );
        }
      }),
    );
    if (errors.length > 0) throw errors[0];
  }

  private remember(key: string, memo: Memo): void {
    this.memo.delete(key);
    this.memo.set(key, memo);
    if (this.memo.size > MEMO_LIMIT) {
      const oldest = this.memo.keys().next();
      if (oldest.done !== true) this.memo.delete(oldest.value);
    }
  }
}

function memoKey(queueName: string, jobId: string): string {
  return `${queueName}\n${jobId}`;
}
