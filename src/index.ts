/**
 * seenn-bullmq: live, per-user job state for BullMQ over Seenn-compatible SSE and REST.
 * The public API is named here explicitly.
 */
export { Seenn } from './seenn.js';
export type { SeennOptions } from './options.js';
export type {
  JobsApi,
  JobPage,
  ListOptions,
  ParentWithChildHandles,
  ChildProgress,
  StartInput,
  BatchInput,
  BatchHandles,
  CancelOptions,
} from './jobs-api.js';
export type {
  JobHandle,
  JobHandleRef,
  JobHandleMethods,
  HandleProgressOptions,
  HandleCompleteOptions,
  HandleFailOptions,
  SeennOnlyJobInput,
} from './handles/index.js';
export type {
  StartJobInput,
  CreateParentInput,
  CreateChildInput,
  CreateBatchInput,
  BatchChildInput,
  Batch,
} from './producer/index.js';
export {
  PROCESSOR_DEFAULTS,
  SeennUserError,
  HIDDEN_FAILURE_MESSAGE,
  type ProcessorOptions,
  type SeennProcessor,
  type SeennProcessorFunction,
  type SeennWorkerJob,
} from './worker/index.js';
export {
  PUBLISHER_DEFAULTS,
  type Publisher,
  type PublisherOptions,
  type PublisherEvents,
  type DescribeFn,
} from './publisher/index.js';
export type { ResolvedPublisherOptions } from './publisher/options.js';
export type { ParkedJob, ResyncInfo } from './publisher/queue-reader.js';
export type { RetentionOptions, ConnectionInput, ClusterConnectionOptions, RedisConnection } from './store/index.js';
export {
  BRIDGE_DEFAULTS,
  SSE_HEADERS,
  type Bridge,
  type BridgeStats,
  type BridgeRouter,
  type BridgeOptions,
  type ExpressBridgeOptions,
  type BridgeAuth,
  type AuthResult,
  type RateLimitOptions,
  type WriteApiOptions,
  type EtaStats,
} from './bridge/index.js';
export type { HubStats } from './bridge/live-hub.js';
export type { WriteApiLimits } from './bridge/write-api.js';
export {
  ADMIN_DEFAULTS,
  LAG_COUNT_MAX_ENTRIES,
  type AdminRouter,
  type AdminOptions,
  type ExpressAdminOptions,
  type AdminAuth,
  type QueuesView,
  type QueueStatus,
  type PublisherStatus,
  type PublisherLag,
  type JobView,
  type BullJobView,
  type BridgesView,
} from './admin/index.js';
export {
  TOKEN_DEFAULTS,
  TOKEN_LIMITS,
  type TokenService,
  type IssueTokenOptions,
  type Principal,
} from './auth/index.js';
export { POSITION_DEFAULTS, type PositionOptions } from './position/index.js';
export { METRIC_NAMES, type MetricsOptions, type NodeHandler } from './metrics/index.js';
export {
  OUTPUT_DEFAULTS,
  DEFAULT_OUTPUT_STREAM,
  MAX_OUTPUT_CHUNK_BYTES,
  type OutputOptions,
  type AppendOutputOptions,
  type OutputChunk,
} from './model/output.js';
export {
  HEALTH_DEFAULTS,
  type HealthReport,
  type HealthCheck,
  type PublisherQueueState,
  type HealthProbe,
  type HealthHandlerOptions,
  type BridgeEntry,
} from './health/index.js';
export type { Logger, LogFn } from './logger.js';
export {
  SeennError,
  ValidationError,
  isSeennError,
  ERROR_CODES,
  type SeennErrorCode,
  type ValidationErrorCode,
} from './errors.js';
export {
  JOB_STATUSES,
  CHILD_PROGRESS_MODES,
  SeennJobSchema,
  derivedJobId,
  CHILD_FAILURE_CODE,
  CHILD_PROGRESS_EVENT,
  type SeennJob,
  type JobStatus,
  type ChildProgressMode,
  type Stage,
  type QueueInfo,
  type JobError,
  type ChildrenStats,
  type ParentLink,
  type Attempt,
  type ChildJobSummary,
  type Descriptor,
  type DescriptorInput,
  type ChildProgressPayload,
  type SetProgressOptions,
  type ProgressPayload,
} from './model/index.js';
export type { ParentWithChildSummaries } from './model/wire.js';
export type { StandardSchemaV1, StandardSchemaProps, StandardSchemaResult } from './model/standard-schema.js';
