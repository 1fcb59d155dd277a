/**
 * Live queue position and queue-derived ETA, computed from BullMQ's own lists on read and for
 * watched jobs. What this folder exports.
 */
export { PositionReader, isQueuedBullJob, isPlaceableBullJob, type PositionSource } from './reader.js';
export {
  PositionWatcher,
  type PositionWatcherSource,
  type PositionUpdate,
  type PositionTick,
  type PositionWatcherEvents,
} from './watcher.js';
export {
  lookupPositions,
  queueInfoOf,
  bullQueueKey,
  rankIndexKeys,
  MAX_ACTIVE_READ,
  RANK_INDEX_CHUNK,
  type PositionHint,
  type PositionRequest,
  type JobPlace,
  type QueueSnapshot,
} from './lookup.js';
export {
  recordCompletion,
  addCompletions,
  readHistory,
  runsKey,
  completionsKey,
  queueRunsKey,
  queueHistoryRoot,
  type Completion,
  type History,
  type QueueHistory,
  type QueueRun,
  type HistoryWanted,
} from './history.js';
export {
  durationStats,
  throughputOf,
  serviceModelOf,
  nthStartMs,
  expectedRemainingMs,
  queuedEta,
  delayedEta,
  runningEta,
  type Eta,
  type EtaSettings,
  type DurationStats,
  type Throughput,
  type ServiceModel,
  type QueueState,
  type Run,
} from './eta.js';
export { applyView, computeView, workflowOf, type PositionView, type ViewSettings } from './view.js';
export {
  Calibration,
  PredictionRecorder,
  scoreEtaPredictions,
  addEtaScoring,
  calibrationOf,
  calibratedBuckets,
  etaKindOf,
  CALIBRATION_BUCKETS,
  CALIBRATION_BAND,
  PREDICTIONS_PER_JOB,
  type CalibrationBucket,
  type EtaKind,
  type PredictionOutcome,
  type PredictionRecorderSettings,
  type ScoringSettings,
} from './calibration.js';
export {
  POSITION_DEFAULTS,
  POSITION_WATCHER_DEFAULTS,
  HISTORY_DEFAULTS,
  resolvePositionOptions,
  resolvePositionWatcherOptions,
  resolveHistoryOptions,
  type PositionOptions,
  type PositionWatcherOptions,
  type HistoryOptions,
} from './options.js';
