/**
 * Options of queue positions, ETAs and the live {@link PositionWatcher}: defaults in one frozen object
 * each, validated once at construction (`CONFIG_INVALID`).
 */
import { z } from 'zod';
import { parseOrThrow } from '../options.js';

/** How much run history is kept (used when recording and when reading it back). */
export interface HistoryOptions {
  /** Run durations kept per `workflowId` (the newest). @defaultValue 100 */
  durationSamples?: number;
  /** Completion times kept per queue, for its throughput (the newest). @defaultValue 200 */
  throughputSamples?: number;
  /** How long a workflow's or queue's history lives after its last completion. @defaultValue 2592000 (30 days) */
  historySeconds?: number;
  /**
   * How quickly a queue's ETA calibration forgets: each prediction scored when its job completes
   * multiplies every earlier one's weight by `1 − 1/etaCalibrationWindowSamples`, so the measured
   * shares follow the last ≈ this many scored predictions (each job gives at most two: its first ETA
   * and one mid-wait). Used when completions are recorded. @defaultValue 500
   */
  etaCalibrationWindowSamples?: number;
}

/** Options of position lookups and ETAs on read ({@link PositionReader}). */
export interface PositionOptions extends HistoryOptions {
  /**
   * Most `wait`-list elements one lookup reads with `LRANGE` (and the `MAXLEN` of each `LPOS`) when
   * it scans: for jobs the rank index has not numbered yet, or with `rankIndex: false`. Such a job
   * farther than this from both ends of a longer list gets no position. Reading costs about 0.4 µs
   * per element in Redis. @defaultValue 100000
   */
  scanLimit?: number;
  /**
   * Keep a rank index of each queue's `wait` list (`<prefix>:<queue>:seenn:rank…`, in the queue's
   * slot; kept up to date by the lookups themselves) so that a job is found in O(log N) at any depth
   * instead of by scanning: ≈ 0.1 ms in the middle of 100,000 waiting jobs instead of ≈ 2–3 ms. Every
   * position is still read from BullMQ's list. Off: lookups write nothing. @defaultValue true
   */
  rankIndex?: boolean;
  /** Run durations needed before any ETA is given. @defaultValue 3 */
  etaMinSamples?: number;
  /** Samples at which an ETA's confidence stops growing with more samples. @defaultValue 20 */
  etaFullConfidenceSamples?: number;
  /** Completions older than this do not count toward a queue's throughput. @defaultValue 600000 (10 min) */
  throughputWindowMs?: number;
  /** ETAs further away than this are not given (no ETA rather than a wild one). @defaultValue 86400000 (24 h) */
  etaMaxMs?: number;
  /**
   * Calibrate `etaConfidence` against real outcomes: reads record the ETAs they give (a job's first
   * and one mid-wait, per queue, in the queue's slot), the publisher scores them when the job
   * completes, and a computed ETA's confidence becomes the measured share of the queue's past
   * predictions at that model confidence that landed within ±20 % of the time left (see
   * `calibration.ts`). Off: `etaConfidence` is the model's own probability and reads write no
   * predictions (with `rankIndex: false` too, reads write nothing at all, e.g. on a read-only
   * replica). @defaultValue true
   */
  etaCalibration?: boolean;
  /**
   * Weight of the model's own probability in a confidence bucket's calibrated value, in scored
   * predictions: a bucket with this many (decayed) outcomes is half measured, half model.
   * @defaultValue 10
   */
  etaCalibrationPriorSamples?: number;
  /**
   * Most jobs per queue whose recorded predictions await their outcome; beyond it the oldest are
   * dropped unscored (≈ 60 bytes each; failed and cancelled jobs' predictions also go this way, or with
   * the key's TTL, `historySeconds`). @defaultValue 2000
   */
  etaCalibrationMaxJobs?: number;
  /** The clock, epoch ms (tests inject one). @defaultValue Date.now */
  now?: () => number;
}

/** Options of a {@link PositionWatcher}. */
export interface PositionWatcherOptions extends PositionOptions {
  /** A watched job's position is recomputed, and pushed, at most once per this many ms. @defaultValue 1000 */
  positionIntervalMs?: number;
}

/** {@link HistoryOptions} with defaults applied. */
export type ResolvedHistoryOptions = Required<HistoryOptions>;

/** {@link PositionOptions} with defaults applied. */
export type ResolvedPositionOptions = Required<PositionOptions>;

/** {@link PositionWatcherOptions} with defaults applied. */
export type ResolvedPositionWatcherOptions = Required<PositionWatcherOptions>;

/** The defaults of {@link HistoryOptions}. */
export const HISTORY_DEFAULTS: ResolvedHistoryOptions = Object.freeze({
  durationSamples: 100,
  throughputSamples: 200,
  historySeconds: 30 * 24 * 3600,
  etaCalibrationWindowSamples: 500,
});

/** The defaults of {@link PositionOptions} (and of {@link HistoryOptions} within it). */
export const POSITION_DEFAULTS: ResolvedPositionOptions = Object.freeze({
  ...HISTORY_DEFAULTS,
  scanLimit: 100_000,
  rankIndex: true,
  etaMinSamples: 3,
  etaFullConfidenceSamples: 20,
  throughputWindowMs: 600_000,
  etaMaxMs: 86_400_000,
  etaCalibration: true,
  etaCalibrationPriorSamples: 10,
  etaCalibrationMaxJobs: 2_000,
  now: Date.now,
});

/** The defaults of {@link PositionWatcherOptions}. */
export const POSITION_WATCHER_DEFAULTS: ResolvedPositionWatcherOptions = Object.freeze({
  ...POSITION_DEFAULTS,
  positionIntervalMs: 1_000,
});

const int = (min: number, max: number) => z.number().int().min(min).max(max).optional();

const HistorySchema = z.object({
  durationSamples: int(1, 10_000),
  throughputSamples: int(2, 10_000),
  historySeconds: int(60, 365 * 24 * 3600),
  etaCalibrationWindowSamples: int(10, 1_000_000),
});

const PositionSchema = HistorySchema.extend({
  scanLimit: int(100, 10_000_000),
  rankIndex: z.boolean().optional(),
  etaMinSamples: int(1, 10_000),
  etaFullConfidenceSamples: int(1, 10_000),
  throughputWindowMs: int(1_000, 7 * 24 * 3600 * 1000),
  etaMaxMs: int(1_000, 365 * 24 * 3600 * 1000),
  etaCalibration: z.boolean().optional(),
  etaCalibrationPriorSamples: int(0, 100_000),
  etaCalibrationMaxJobs: int(10, 1_000_000),
  now: z.custom<() => number>((value) => typeof value === 'function', 'now must be a function').optional(),
});

const WatcherSchema = PositionSchema.extend({ positionIntervalMs: int(10, 3_600_000) });

// Built once: a schema made per call is compiled again on every parse.
const StrictHistorySchema = HistorySchema.strict();
const StrictPositionSchema = PositionSchema.strict();
const StrictWatcherSchema = WatcherSchema.strict();

function pick<T extends object>(defaults: Required<T>, parsed: { [K in keyof T]?: T[K] | undefined }): Required<T> {
  const resolved = { ...defaults };
  for (const key of Object.keys(defaults) as (keyof T)[]) {
    const value = parsed[key];
    if (value !== undefined) resolved[key] = value as Required<T>[keyof T];
  }
  return resolved;
}

/** Validates {@link HistoryOptions} and applies defaults. */
export function resolveHistoryOptions(options: HistoryOptions = {}): ResolvedHistoryOptions {
  return pick<HistoryOptions>(HISTORY_DEFAULTS, parseOrThrow(StrictHistorySchema, options, 'history options'));
}

/** Validates {@link PositionOptions} and applies defaults. */
export function resolvePositionOptions(options: PositionOptions = {}): ResolvedPositionOptions {
  return pick<PositionOptions>(POSITION_DEFAULTS, parseOrThrow(StrictPositionSchema, options, 'position options'));
}

/** Validates {@link PositionWatcherOptions} and applies defaults. */
export function resolvePositionWatcherOptions(options: PositionWatcherOptions = {}): ResolvedPositionWatcherOptions {
  return pick<PositionWatcherOptions>(
    POSITION_WATCHER_DEFAULTS,
    parseOrThrow(StrictWatcherSchema, options, 'position watcher options'),
  );
}
